"""Helpers shared by the widget tests."""


def png_array(data: bytes):
    """Decode PNG bytes into an (H, W, 3) uint8 array."""
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
