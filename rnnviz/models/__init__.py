"""Models: architectures and loading, tokenizers, uploads, custom models, presets."""
