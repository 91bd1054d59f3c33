"""`backbone`: a `keras.applications` network with a new head for the task, its input preprocessing inside.

The built model is ``inputs -> to 0..255 -> the application's own preprocessing -> backbone
(a nested model named ``backbone``, run in inference mode) -> Dropout -> head`` so an export
takes the pixels the dataset gives, and ``training.phases`` can name the head and the
backbone's top layers (`framework.training.phases`). The application's preprocessing is the one
its ``keras.applications.<module>.preprocess_input`` applies (`MODES`, from Keras's
``keras/src/applications/imagenet_utils.py``): ``caffe`` (RGB to BGR, ImageNet means
subtracted), ``tf`` (scaled to [-1, 1]), ``torch`` (scaled to [0, 1], ImageNet mean and std),
or none where the network has it inside (EfficientNet, MobileNetV3, ConvNeXt ...). With
``hub_preset`` (the ``hub`` extra), the backbone is a KerasHub preset read from a local
directory (``keras_hub.models.Backbone.from_preset``) and its preprocessing the preset's
``ImageConverter`` (resizing and scaling), when it has one.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from framework.extras import needs_extra
from framework.model.networks import Shape, output_layers
from framework.recipe.paths import DataPath

if TYPE_CHECKING:  # imported by each function: listing and checking models starts no TensorFlow
    from collections.abc import Callable

    import keras

BACKBONE = "backbone"  # the nested model's name, which `training.phases` looks for
MODES = {
    "caffe": ("resnet", "vgg16", "vgg19"),
    "tf": ("mobilenet", "mobilenet_v2", "inception_v3", "inception_resnet_v2", "xception", "resnet_v2", "nasnet"),
    "torch": ("densenet",),
    "inside": ("mobilenet_v3", "efficientnet", "efficientnet_v2", "convnext", "regnet"),
}
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)  # imagenet_utils._preprocess_numpy_input, mode "caffe"
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # ... mode "torch", on [0, 1] RGB
IMAGENET_STD = (0.229, 0.224, 0.225)


@functools.cache
def caffe_preprocessing() -> type[keras.layers.Layer]:
    """The layer class of ``preprocess_input``'s mode ``caffe`` (RGB pixels 0..255 to BGR with the ImageNet means
    subtracted), registered with Keras as ``tapeline>CaffePreprocessing`` when first asked for."""
    import keras

    @keras.saving.register_keras_serializable(package="tapeline")
    class CaffePreprocessing(keras.layers.Layer):
        def call(self, images: Any) -> Any:
            mean = keras.ops.convert_to_tensor(IMAGENET_MEAN_BGR, dtype=images.dtype)
            return keras.ops.flip(images, axis=-1) - mean

    return CaffePreprocessing


def applications() -> list[str]:
    """The names of the `keras.applications` networks (``MobileNetV3Small``, ``ResNet50`` ...)."""
    import keras

    return sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))


def application(network: str) -> Callable[..., keras.Model]:
    """The `keras.applications` constructor named `network`; ValueError listing them all."""
    import keras

    if network not in applications():
        raise ValueError(
            f"`network` must be a keras.applications network (got {network!r}); choose one of "
            f"{', '.join(applications())}"
        )
    return getattr(keras.applications, network)


def mode(constructor: Callable[..., keras.Model]) -> str:
    """The `MODES` key of a `keras.applications` constructor, from its module's name."""
    module = constructor.__module__.rsplit(".", 1)[-1]
    return next((name for name, modules in MODES.items() if module in modules), "inside")


def preprocessing(kind: str, input_range: tuple[float, float]) -> list[keras.layers.Layer]:
    """Layers taking inputs in `input_range` to what an application of `MODES` kind `kind` expects."""
    import keras

    low, high = input_range
    layers = [] if (low, high) == (0, 255) else [keras.layers.Rescaling(255 / (high - low), -low * 255 / (high - low))]
    if kind == "caffe":
        layers.append(caffe_preprocessing()())
    elif kind == "tf":
        layers.append(keras.layers.Rescaling(1 / 127.5, offset=-1))
    elif kind == "torch":
        variance = [s * s for s in IMAGENET_STD]
        layers += [keras.layers.Rescaling(1 / 255), keras.layers.Normalization(mean=IMAGENET_MEAN, variance=variance)]
    return layers


def pretrained(
    constructor: Callable[..., keras.Model], network: str, shape: Shape, weights: str | None, options: dict[str, Any]
) -> keras.Model:
    """The application without its top, named `BACKBONE`, with `weights` (None, ``imagenet`` or a weights file).

    Raises:
        ValueError: the ImageNet weights cannot be fetched (no internet), or the file does not fit the network.
    """
    build = dict(include_top=False, input_shape=shape, pooling="avg", **options)
    if weights != "imagenet":
        model = constructor(weights=None, **build)
        if weights is not None:
            try:
                model.load_weights(weights)
            except (ValueError, OSError, KeyError) as error:
                raise ValueError(
                    f"`weights` file {weights!r} does not fit {network} (include_top=False, input_shape={shape}): "
                    f"{str(error).splitlines()[0]}"
                ) from None
    else:
        try:
            model = constructor(weights="imagenet", **build)
        except Exception as error:  # Keras's download raises a bare Exception on a failed fetch
            raise ValueError(
                f"the imagenet weights of {network} could not be fetched ({str(error).splitlines()[0]}): this machine "
                "may have no internet; on one that has, build it once (keras.applications."
                f"{network}(include_top=False, weights='imagenet')) to cache the file in ~/.keras/models/, or save "
                f"its weights with save_weights('{network}.weights.h5') and give that file as `weights`"
            ) from None
    model.name = BACKBONE
    return model


def hub_layers(preset: str) -> tuple[list[Any], keras.Model]:
    """The preset's image converter (as a list of at most one layer) and its backbone, named `BACKBONE`.

    Raises:
        ValueError: keras-hub is not installed, or the directory holds no backbone preset.
    """
    try:
        import keras_hub
    except ImportError:
        raise ValueError(needs_extra("`hub_preset`", "hub", "keras-hub")) from None

    try:
        network = keras_hub.models.Backbone.from_preset(preset)
    except (ValueError, OSError, FileNotFoundError) as error:
        raise ValueError(f"`hub_preset` {preset!r} holds no KerasHub backbone: {str(error).splitlines()[0]}") from None
    converter = []
    if (Path(preset) / "image_converter.json").is_file():
        converter = [keras_hub.layers.ImageConverter.from_preset(preset)]
    network.name = BACKBONE
    return converter, network


def backbone(
    input_shape: Shape,
    num_outputs: int | None = None,
    output_activation: str = "softmax",
    outputs: dict[str, tuple[int, str]] | None = None,
    network: str = "MobileNetV3Small",
    weights: DataPath.file | Literal["imagenet"] | None = None,
    image_size: tuple[int, int] | None = None,
    input_range: tuple[float, float] = (0.0, 1.0),
    dropout: float = 0.2,
    network_args: dict[str, Any] | None = None,
    hub_preset: DataPath.folder | None = None,
) -> keras.Model:
    """A pretrained `keras.applications` network, without its top, under a new head for the task.

    Args:
        input_shape: one image's shape ``(height, width, channels)``, 1 or 3 channels (1 is repeated to 3).
        num_outputs, output_activation, outputs: the head's units and activation (from the data).
        network: the `keras.applications` name (``MobileNetV3Small``, ``ResNet50``, ``EfficientNetB0`` ...).
        weights: a ``.weights.h5`` file of the network built with ``include_top=False`` (and this
            run's image size), ``imagenet`` (Keras downloads it, or finds it in ``~/.keras/models/``),
            or null (random).
        image_size: ``[height, width]`` to resize images to inside the model (the networks have a
            smallest size, 32 for most); null: as they come.
        input_range: the inputs' range as the dataset's preprocessing leaves it: ``[0, 1]`` for
            Tapeline's image default (1/255), ``[0, 255]`` with ``dataset.preprocess: []``.
        dropout: the rate of the Dropout before the head.
        network_args: more keyword arguments for the constructor (``alpha``, ``minimalistic`` ...).
        hub_preset: a local KerasHub preset directory (``config.json``, ``model.weights.h5`` and, for its input
            preprocessing, ``image_converter.json``) to use instead of `network` and `weights` (the ``hub`` extra).

    Raises:
        ValueError: an unknown `network`, weights that cannot be fetched or do not fit, a bad `input_range`.
    """
    import keras

    if not input_range[1] > input_range[0]:
        raise ValueError(f"`input_range` must be [low, high] with high > low (got {list(input_range)})")
    inputs = keras.Input(input_shape)
    x = inputs if input_shape[-1] == 3 else keras.layers.Concatenate()([inputs] * 3)
    size = tuple(image_size) if image_size else tuple(input_shape[:2])
    if image_size:
        x = keras.layers.Resizing(*size)(x)
    if hub_preset is not None:
        layers, base = hub_layers(hub_preset)
        layers = preprocessing("inside", tuple(input_range)) + layers  # the converter takes pixels 0..255
    else:
        constructor = application(network)
        options = dict(network_args or {})
        if "include_preprocessing" in inspect.signature(constructor).parameters:
            options.setdefault("include_preprocessing", True)
        layers = preprocessing(mode(constructor), tuple(input_range))
        base = pretrained(constructor, network, (*size, 3), weights, options)
    for layer in layers:
        x = layer(x)
    x = base(x, training=False)  # BatchNorm in inference mode, also when unfrozen
    if len(x.shape) == 4:  # a KerasHub backbone's feature map: pooled, as keras.applications' pooling="avg"
        x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(dropout)(x) if dropout else x
    result = output_layers(x, "backbone", num_outputs, output_activation, outputs)
    return keras.Model(inputs, result, name="finetuned")
