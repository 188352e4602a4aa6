"""emocause: emotion-cause-aware empathetic dialogue."""

__version__ = "0.1.0"
