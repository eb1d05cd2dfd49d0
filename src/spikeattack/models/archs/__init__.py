"""Built-in architectures; importing this package registers them."""

from . import small  # noqa: F401
from . import liang, resnet, vgg  # noqa: F401
