"""landmarks: the landmark papers of deep learning as readable, tested, reproducible PyTorch.

Light on purpose: importing ``landmarks`` (and running ``landmarks list``) must not import
torch. Heavy modules are imported where they are used.
"""

__version__ = "0.1.0"
