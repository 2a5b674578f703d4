"""hubship: publish the output of a fine-tuning run, correctly and fast, everywhere people run models."""

__version__ = "0.1.0"
