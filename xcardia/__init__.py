__version__ = "0.0.1"

import warnings as _warnings
# MONAI (1.5-1.6) calls torch.jit.script at import time, which torch >= 2.10 deprecates with a FutureWarning on every
# `import xcardia...`; it is not ours to fix and would be the first line of every command's output.
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)

# MONAI's DICOM reader says on every series that the optional GPU decoder (nvImageCodec) is missing and that it falls
# back to pydicom, which is what we use; the message would otherwise repeat for every CT read.
_warnings.filterwarnings('ignore', message=r'NvImgCodecPydicomReader', category=UserWarning)
