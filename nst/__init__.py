"""nst: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016).

The core imports neither torch nor jax; backends load on first use.
"""

from nst.batching import BatchReport, batch
from nst.errors import NonFiniteLoss, NstError
from nst.objective import LossSpec
from nst.options.config import Config, make_config
from nst.stylize import Progress, Result, StyleTransfer, stylize
from nst.video.stylize_video import stylize_video

__all__ = [
    "batch",
    "BatchReport",
    "Config",
    "LossSpec",
    "make_config",
    "NstError",
    "NonFiniteLoss",
    "Progress",
    "Result",
    "StyleTransfer",
    "stylize",
    "stylize_video",
]
__version__ = "0.1.0"
