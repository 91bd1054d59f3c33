"""Tests for the `backbone` model: keras.applications networks with their preprocessing inside and local weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from framework.model.backbone import BACKBONE, application, backbone, mode, preprocessing


@pytest.mark.parametrize(
    ("network", "module", "kind"),
    [
        ("ResNet50", keras.applications.resnet, "caffe"),
        ("MobileNetV2", keras.applications.mobilenet_v2, "tf"),
        ("DenseNet121", keras.applications.densenet, "torch"),
        ("EfficientNetB0", keras.applications.efficientnet, "inside"),
    ],
)
def test_preprocessing_equals_the_applications_preprocess_input(network, module, kind):
    """The layers put inside the model compute what `keras.applications.<module>.preprocess_input` computes, from
    pixels in [0, 1] (Tapeline's image default) as from pixels 0..255."""
    assert mode(application(network)) == kind
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    expected = module.preprocess_input(pixels.copy())
    for scale, input_range in ((1.0, (0, 255)), (1 / 255, (0.0, 1.0))):
        x = keras.ops.convert_to_tensor(pixels * scale)
        for layer in preprocessing(kind, input_range):
            x = layer(x)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(x), expected, rtol=1e-4, atol=1e-3)


def test_grey_images_are_resized_and_repeated_to_rgb():
    """A 28 x 28 grey input is repeated to 3 channels and resized to `image_size` before the backbone."""
    network = backbone((28, 28, 1), 10, network="MobileNetV3Small", image_size=(32, 32), dropout=0.0)
    assert network.get_layer(BACKBONE).input_shape == (None, 32, 32, 3)
    assert network(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 10)


def test_weights_from_a_local_file_are_loaded(tmp_path):
    """`weights:` a file saved from the application without its top loads into the backbone."""
    saved = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg", minimalistic=True
    )
    saved.save_weights(tmp_path / "w.weights.h5")
    network = backbone((32, 32, 3), 2, weights=str(tmp_path / "w.weights.h5"), network_args={"minimalistic": True})
    for got, want in zip(network.get_layer(BACKBONE).get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_weights_of_another_network_are_refused_naming_the_file(tmp_path):
    """A weights file of another network is a ValueError naming the file and the network."""
    other = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3))
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(ValueError, match=r"`weights` file '.*other.weights.h5' does not fit MobileNetV2"):
        backbone((32, 32, 3), 2, network="MobileNetV2", weights=str(tmp_path / "other.weights.h5"))


def test_imagenet_weights_that_cannot_be_fetched_say_how_to_get_them(monkeypatch):
    """Offline, `weights: imagenet` fails with Keras's reason and the two ways round it, no traceback of a download."""
    import keras.src.utils.file_utils as file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None -- [Errno -2] Name unknown")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(ValueError, match=r"the imagenet weights of MobileNetV3Small could not be fetched \(URL fetch"):
        backbone((32, 32, 3), 2, weights="imagenet")


def test_an_unknown_network_lists_the_applications():
    """A network name keras.applications lacks is refused with the names it has."""
    with pytest.raises(
        ValueError,
        match=r"`network` must be a keras.applications network \(got 'MobileNet4'\); .*"
        r"MobileNetV3Small",
    ):
        backbone((32, 32, 3), 2, network="MobileNet4")


def write_hub_preset(folder) -> keras.Model:
    """A small KerasHub ResNet backbone and its image converter (resize to 32 x 32, scale 1/255) as a local
    preset."""
    import keras_hub

    network = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64],
        stackwise_num_blocks=[1],
        stackwise_num_strides=[1],
        block_type="basic_block",
        image_shape=(None, None, 3),
        use_pre_activation=False,
    )
    network.save_to_preset(str(folder))
    keras_hub.layers.ResNetImageConverter(image_size=(32, 32), scale=1 / 255).save_to_preset(str(folder))
    return network


def test_a_kerashub_preset_from_a_local_folder_is_the_backbone_with_its_converter_inside(tmp_path):
    """`hub_preset:` loads the preset's backbone (pooled, named backbone) and puts its image converter before it."""
    pytest.importorskip("keras_hub")  # the `hub` extra, installed with `dev`
    saved = write_hub_preset(tmp_path / "preset")
    network = backbone((40, 40, 3), 4, hub_preset=str(tmp_path / "preset"))
    assert "ImageConverter" in type(network.layers[2]).__name__  # after the input and the scaling to 0..255
    assert network(np.zeros((2, 40, 40, 3), "float32")).shape == (2, 4)
    loaded = network.get_layer(BACKBONE)
    for got, want in zip(loaded.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_missing_keras_hub_names_the_extra(monkeypatch, tmp_path):
    """Without keras-hub, `hub_preset` is a ValueError with the pip command of the `hub` extra."""
    import sys

    monkeypatch.setitem(sys.modules, "keras_hub", None)  # `import keras_hub` raises ImportError
    with pytest.raises(ValueError, match=r"`hub_preset` needs keras-hub: .*\[hub\]"):
        backbone((32, 32, 3), 2, hub_preset=str(tmp_path))
