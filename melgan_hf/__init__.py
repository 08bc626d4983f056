"""melgan-hf: MelGAN vocoding and GAN audio style transfer on the Hugging Face stack.

Importing the package registers its configs, models and feature extractors with transformers' Auto classes, so
`AutoConfig`, `AutoModel` and `AutoFeatureExtractor` load saved models without `trust_remote_code`.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from .audio import AudioError, load_audio, save_audio
from .configuration_amplitude_refiner import MelAmplitudeRefinerConfig
from .configuration_knn_vc import KnnVCConfig
from .configuration_melgan import MEL_PRESETS, MelGANConfig
from .configuration_melgan_vc import MelGANVCConfig
from .configuration_phone_encoder import PhoneEncoderConfig
from .configuration_ppg_vc import PPGVCConfig
from .feature_extraction_melgan import MelGANFeatureExtractor
from .modeling_amplitude_refiner import MelAmplitudeRefiner
from .modeling_knn_vc import KnnVCModel
from .modeling_melgan import MelGANDiscriminator, MelGANGenerator
from .modeling_melgan_vc import MelGANVCModel
from .modeling_phone_encoder import PhoneEncoderModel
from .modeling_ppg_vc import PPGVCModel
from .pipelines import GriffinLimVocoder, MelGANVocoder, StyleTransferPipeline

__version__ = "0.1.0"

AutoConfig.register(MelGANConfig.model_type, MelGANConfig, exist_ok=True)
AutoModel.register(MelGANConfig, MelGANGenerator, exist_ok=True)
AutoFeatureExtractor.register(MelGANConfig, MelGANFeatureExtractor, exist_ok=True)
AutoConfig.register(MelGANVCConfig.model_type, MelGANVCConfig, exist_ok=True)
AutoModel.register(MelGANVCConfig, MelGANVCModel, exist_ok=True)
AutoFeatureExtractor.register(MelGANVCConfig, MelGANFeatureExtractor, exist_ok=True)
AutoConfig.register(MelAmplitudeRefinerConfig.model_type, MelAmplitudeRefinerConfig, exist_ok=True)
AutoModel.register(MelAmplitudeRefinerConfig, MelAmplitudeRefiner, exist_ok=True)
AutoConfig.register(PhoneEncoderConfig.model_type, PhoneEncoderConfig, exist_ok=True)
AutoModel.register(PhoneEncoderConfig, PhoneEncoderModel, exist_ok=True)
AutoFeatureExtractor.register(PhoneEncoderConfig, MelGANFeatureExtractor, exist_ok=True)
AutoConfig.register(KnnVCConfig.model_type, KnnVCConfig, exist_ok=True)
AutoModel.register(KnnVCConfig, KnnVCModel, exist_ok=True)
AutoFeatureExtractor.register(KnnVCConfig, MelGANFeatureExtractor, exist_ok=True)
AutoConfig.register(PPGVCConfig.model_type, PPGVCConfig, exist_ok=True)
AutoModel.register(PPGVCConfig, PPGVCModel, exist_ok=True)
AutoFeatureExtractor.register(PPGVCConfig, MelGANFeatureExtractor, exist_ok=True)

__all__ = [
    "MEL_PRESETS",
    "AudioError",
    "GriffinLimVocoder",
    "KnnVCConfig",
    "KnnVCModel",
    "MelAmplitudeRefiner",
    "MelAmplitudeRefinerConfig",
    "MelGANConfig",
    "MelGANDiscriminator",
    "MelGANFeatureExtractor",
    "MelGANGenerator",
    "MelGANVCConfig",
    "MelGANVCModel",
    "MelGANVocoder",
    "PPGVCConfig",
    "PPGVCModel",
    "PhoneEncoderConfig",
    "PhoneEncoderModel",
    "StyleTransferPipeline",
    "load_audio",
    "save_audio",
]
