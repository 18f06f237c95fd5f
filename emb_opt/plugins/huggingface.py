"""The original library's name for the Hugging Face data source (spelling kept)."""

from ..adapters.huggingface import HuggingFaceDataSource

HugggingfaceDataPlugin = HuggingFaceDataSource

__all__ = ["HugggingfaceDataPlugin", "HuggingFaceDataSource"]
