"""The experiment configuration: the schema (:mod:`.schema`) and loading recipes, files and
``--set`` overrides (:mod:`.load`). Importing it imports no torch."""

from motionfit.config.load import (
    apply_override,
    dump_config,
    field_keys,
    list_recipes,
    load_config,
    recipe_dir,
    validate_config,
)
from motionfit.config.schema import (
    ACCELERATORS,
    LOGGED_METRICS,
    STRATEGIES,
    AugmentConfig,
    Config,
    DataConfig,
    EvalConfig,
    LoraSettings,
    ModelConfig,
    OptimConfig,
    OutputConfig,
    PretrainConfig,
    SamplingConfig,
    ScheduleConfig,
    TrainConfig,
)

__all__ = [
    "ACCELERATORS",
    "LOGGED_METRICS",
    "STRATEGIES",
    "AugmentConfig",
    "Config",
    "DataConfig",
    "EvalConfig",
    "LoraSettings",
    "ModelConfig",
    "OptimConfig",
    "OutputConfig",
    "PretrainConfig",
    "SamplingConfig",
    "ScheduleConfig",
    "TrainConfig",
    "apply_override",
    "dump_config",
    "field_keys",
    "list_recipes",
    "load_config",
    "recipe_dir",
    "validate_config",
]
