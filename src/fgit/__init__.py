"""fgit: Fault-Guided Fine-Tuning (FGIT) for code LLMs."""

__version__ = "0.1.0"
