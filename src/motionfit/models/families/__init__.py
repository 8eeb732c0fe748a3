"""Every model family, one module each; importing this package registers them all, in the
order ``motionfit models`` lists them. A new family is a module here and a name in
:data:`FAMILY_MODULES`."""

from importlib import import_module

FAMILY_MODULES = (
    "cnn",
    "x3d",
    "slowfast",
    "vjepa2",
    "videoprism",
    "videomae",
    "timesformer",
    "swin",
    "mvit",
)

for _module in FAMILY_MODULES:
    import_module(f"{__name__}.{_module}")
