"""SCF's name for COS's Python SDK.

SCF's Python runtimes carry cos-python-sdk-v5 under the name qcloud_cos_v5, and SCF's
samples import it so (``from qcloud_cos_v5 import CosConfig, CosS3Client``); the SDK as
published names its package qcloud_cos. This package makes qcloud_cos_v5 and each
qcloud_cos_v5.<module> the very module objects of qcloud_cos and qcloud_cos.<module>, so an
exception class caught under one name is the one raised under the other.
Example: ``from qcloud_cos_v5.cos_exception import CosServiceError`` gives
``qcloud_cos.cos_exception.CosServiceError``.
"""

import importlib
import importlib.abc
import importlib.util
import sys

import qcloud_cos

_ALIAS = __name__
_REAL = "qcloud_cos"


class _SameModule(importlib.abc.Loader):
    """Loads qcloud_cos_v5.<module> as the already imported qcloud_cos.<module>."""

    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return importlib.import_module(self.real)

    def exec_module(self, module):
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(_ALIAS + "."):
            return None
        real = _REAL + fullname[len(_ALIAS) :]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _SameModule(real))


sys.meta_path.insert(0, _AliasFinder())
sys.modules[_ALIAS] = qcloud_cos
