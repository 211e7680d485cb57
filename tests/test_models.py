"""Every registered model, tiny shapes: shapes, a fit step, gradients, `.keras` round trips."""

import dataclasses
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, images, run_python, tiny_model

import convae_tf
from convae_tf.models import registry


@pytest.fixture(params=convae_tf.list_models())
def name(request):
    return request.param


def test_output_shape_and_range(name):
    model = tiny_model(name)
    x = images()
    y = np.asarray(model(x))
    assert y.shape == x.shape
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert tuple(model.code(x).shape) == (2, TINY["latent_dim"])
    assert np.asarray(model.score(x)).shape == (2,)


def test_code_is_what_the_decoder_gets_at_inference(name):
    model = tiny_model(name)
    x = images()
    code = np.asarray(model.code(x))
    np.testing.assert_array_equal(code, model.code(x))  # deterministic, even for the VAE
    np.testing.assert_allclose(model.decode(code), model(x, training=False), atol=1e-6)


def test_serving_outputs_are_named_by_the_model(name):
    model = tiny_model(name)
    outputs = model.encode_outputs(images())
    variational = {"mean", "log_var"}
    assert set(outputs) == (variational if model.is_variational else {"code"})
    assert model.is_variational == (name == "vae")
    assert all(tuple(v.shape) == (2, TINY["latent_dim"]) for v in outputs.values())


def test_fit_step_gives_finite_loss(name):
    model = tiny_model(name)
    history = model.fit(images(batch=4), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert set(model.metric_names) <= set(history.history)


def test_every_trainable_variable_gets_a_gradient(name):
    model = tiny_model(name)
    x = images()
    model(x)
    with tf.GradientTape() as tape:
        loss = model.loss_terms(x, training=True)["loss"]
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads, strict=True) if g is None]
    assert not missing, f"no gradient for {missing}"
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)


def test_inference_is_deterministic(name):
    model = tiny_model(name)
    x = images()
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    np.testing.assert_array_equal(model.score(x), model.score(x))


def test_keras_round_trip_identical_outputs(name, tmp_path):
    model = tiny_model(name)
    x = images()
    model.fit(x, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(reloaded(x), model(x))
    np.testing.assert_array_equal(reloaded.score(x), model.score(x))


@pytest.mark.slow
def test_keras_files_reload_in_a_fresh_process(tmp_path):
    """What a new process sees after `import convae_tf`: every model's file, identical outputs."""
    x = images()
    np.save(tmp_path / "x.npy", x)
    for name in convae_tf.list_models():
        model = tiny_model(name)
        model.fit(x, epochs=1, verbose=0)
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.npy", np.asarray(model(x)))
    script = textwrap.dedent(f"""
        import numpy as np, keras, convae_tf
        x = np.load({str(tmp_path / "x.npy")!r})
        for name in convae_tf.list_models():
            model = keras.saving.load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            expected = np.load({str(tmp_path)!r} + f"/{{name}}.npy")
            np.testing.assert_array_equal(model(x), expected, err_msg=name)
            print(name, "identical")
    """)
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [
        word for name in convae_tf.list_models() for word in (name, "identical")
    ]


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (30, 30, 1), (17, 23, 2), (64, 64, 3)])
def test_any_image_shape_round_trips_exactly(shape):
    model = tiny_model("ae")
    x = images(shape)
    assert tuple(model(x).shape) == x.shape
    code = model.encode(x)
    assert tuple(model.decode(code).shape) == x.shape


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {"pooling": "avg"},
        {"upsampling": "bilinear"},
        {"decoder_block": "transpose"},
        {"reconstruction_loss": "mse"},
        {"filters": (4, 8, 16)},
        {"block_convs": 2, "pooling": "stride"},
    ],
)
def test_architecture_options_train(options):
    model = tiny_model("ae", **options)
    x = images((20, 20, 3), batch=4)
    before = float(model.evaluate(x, verbose=0, return_dict=True)["loss"])
    model.fit(x, epochs=30, verbose=0)
    assert tuple(model(x).shape) == x.shape
    assert float(model.evaluate(x, verbose=0, return_dict=True)["loss"]) < before


def test_options_change_the_architecture():
    x = images()
    layer_types = {
        opts: {
            type(layer).__name__
            for m in (tiny_model("ae", **dict([opts])),)
            for _ in [m(x)]
            for sub in (m.encoder, m.decoder)
            for layer in sub.layers
        }
        for opts in [("pooling", "avg"), ("decoder_block", "transpose")]
    }
    assert "AveragePooling2D" in layer_types[("pooling", "avg")]
    assert "MaxPooling2D" not in layer_types[("pooling", "avg")]
    assert "Conv2DTranspose" in layer_types[("decoder_block", "transpose")]
    assert "UpSampling2D" not in layer_types[("decoder_block", "transpose")]


def added_convs(model, deeper):
    """(network, spatial size) of each Conv2D that `deeper` has and `model` lacks (the added
    layers are all Conv2D; a Conv2DTranspose is not one)."""

    def conv_sizes(m):
        return [
            (sub.name, layer.output.shape[1])
            for sub in (m.encoder, m.decoder)
            for layer in sub.layers
            if isinstance(layer, keras.layers.Conv2D)
        ]

    added = conv_sizes(deeper)
    for entry in conv_sizes(model):
        added.remove(entry)
    return sorted(added)


@pytest.mark.parametrize("pooling", ["max", "stride"])
@pytest.mark.parametrize("decoder_block", ["upsample", "transpose"])
def test_block_convs_adds_convolutions_at_every_resolution(pooling, decoder_block):
    x = images((20, 20, 3))
    options = {"pooling": pooling, "decoder_block": decoder_block, "filters": (4, 8)}
    one, two = tiny_model("ae", **options), tiny_model("ae", block_convs=2, **options)
    for model in (one, two):
        model(x)  # builds the encoder and decoder
    added = added_convs(one, two)
    # One more convolution per block, each at the resolution its block works at.
    encoder_sizes = [10, 5] if pooling == "stride" else [20, 10]
    expected = [("decoder", 10), ("decoder", 20)] + [("encoder", s) for s in encoder_sizes]
    assert sorted(added) == sorted(expected)
    assert tuple(two(x).shape) == x.shape
    assert two.count_params() > one.count_params()


def test_block_convs_per_block_deepens_that_block_and_its_mirror(tmp_path):
    x = images((20, 20, 3))
    one, deeper = tiny_model("ae"), tiny_model("ae", block_convs=[3, 1])
    for model in (one, deeper):
        model(x)
    # Two more convolutions at full resolution in the encoder and in the decoder, none below.
    assert added_convs(one, deeper) == [("decoder", 20)] * 2 + [("encoder", 20)] * 2
    deeper.save(tmp_path / "deeper.keras")
    again = keras.saving.load_model(tmp_path / "deeper.keras")
    assert again.block_convs == (3, 1)
    np.testing.assert_allclose(again(x), deeper(x), atol=1e-6)


@pytest.mark.parametrize("decoder_block", ["upsample", "transpose"])
def test_batch_normalization_follows_every_block_convolution(decoder_block):
    model = tiny_model(
        "ae", normalization="batch", block_convs=2, decoder_block=decoder_block, pooling="stride"
    )
    x = images((20, 20, 3), batch=8)
    # Trains (the loss in training mode, on the batch's statistics, goes down) and moves the
    # moving statistics away from their initial (0, 1).
    losses = model.fit(x, epochs=20, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    for sub in (model.encoder, model.decoder):
        convs = [
            layer
            for layer in sub.layers
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))
            and layer.name != "logits"
        ]
        assert len(convs) == 4  # two blocks of two convolutions
        for layer in convs:
            # The normalisation's offset replaces the convolution's bias.
            assert not layer.use_bias
            bn = sub.get_layer(f"{layer.name}_bn")
            assert isinstance(bn, keras.layers.BatchNormalization)
            assert not np.allclose(np.asarray(bn.moving_mean), 0.0)
        # One per block convolution: none after the code or the logits.
        norms = [
            layer for layer in sub.layers if isinstance(layer, keras.layers.BatchNormalization)
        ]
        assert len(norms) == len(convs)
    # Inference uses the moving statistics: an image's reconstruction does not depend on the
    # batch it comes in.
    np.testing.assert_allclose(np.asarray(model(x[:1])), np.asarray(model(x))[:1], atol=1e-5)


def skip_unless_it_takes(name, **options):
    """Skips a test of architecture options that model `name` keeps fixed (its stages, say)."""
    fixed = registry.get(name).fixed_architecture
    refused = {key: fixed[key] for key, value in options.items() if fixed.get(key, value) != value}
    if refused:
        pytest.skip(f"{name} keeps {refused} (its fixed_architecture)")


def test_conv_bottleneck_keeps_each_code_value_at_its_place(name, tmp_path):
    """bottleneck="conv": the code is a 1×1 convolution of the encoder's last 4×4 feature map
    (16×16 images, two blocks), flattened channel by channel. Its first value is channel 0 at
    the top-left cell, so it changes the top-left of the reconstruction and not the far corner;
    no dense layer is left."""
    skip_unless_it_takes(name, bottleneck="conv")
    channels = 3
    model = tiny_model(name, bottleneck="conv", latent_dim=16 * channels)
    x = images(batch=4)
    losses = model.fit(x, epochs=2, verbose=0).history["loss"]
    assert np.isfinite(losses).all()
    code = np.asarray(model.code(x))
    assert code.shape == (4, 16 * channels)
    for sub in (model.encoder, model.decoder):
        assert not [layer for layer in sub.layers if isinstance(layer, keras.layers.Dense)]
    # The encoder's output (the VAE's: mean, then log-variance) is the 1×1 convolution's
    # channels, channel-major, so each part is whole feature maps.
    maps = keras.Model(model.encoder.input, model.encoder.get_layer("code_conv").output)(x)
    maps = np.asarray(maps)
    encoded = np.asarray(model.encoder(x))
    np.testing.assert_array_equal(
        encoded.reshape(4, maps.shape[-1], 4, 4).transpose(0, 2, 3, 1), maps
    )
    moved = code.copy()
    moved[:, 0] += 5.0
    change = np.abs(np.asarray(model.decode(moved)) - np.asarray(model.decode(code)))
    assert change[:, :4, :4].max() > 1e-4
    np.testing.assert_array_equal(change[:, 12:, 12:], 0.0)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.get_config()["bottleneck"] == "conv"
    np.testing.assert_array_equal(reloaded(x), model(x))


def test_conv_bottleneck_needs_a_code_that_fills_the_grid(name):
    # 17×23 images are padded to 20×24: a 5×6 grid after two blocks. The message names the
    # latent_dim that was passed (the VAE's encoder emits twice as many values).
    skip_unless_it_takes(name, bottleneck="conv", pooling="stride")
    with pytest.raises(
        ValueError, match="latent_dim=20 does not fill the 5×6 grid.*multiple of 30"
    ):
        tiny_model(name, bottleneck="conv", latent_dim=20)(images((17, 23, 1)))
    model = tiny_model(name, bottleneck="conv", latent_dim=60, pooling="stride")
    x = images((17, 23, 1))
    assert tuple(model(x).shape) == x.shape
    assert tuple(model.code(x).shape) == (2, 60)


def test_stacked_refuses_the_conv_bottleneck():
    with pytest.raises(ValueError, match="bottleneck"):
        convae_tf.get_model("stacked", bottleneck="conv")


def test_the_architecture_is_one_frozen_description(name):
    """The builders' `model.architecture`, the model's attributes and its config agree, and
    none of them can drift from the others after construction."""
    model = tiny_model(name, kernel_size=5)
    architecture = model.architecture
    assert architecture.filters == TINY["filters"] and architecture.kernel_size == 5
    config = model.get_config()
    for field in dataclasses.fields(architecture):
        value = getattr(architecture, field.name)
        assert getattr(model, field.name) == value
        assert config.get(field.name, value) == value
    with pytest.raises(AttributeError, match="frozen architecture"):
        model.filters = (8, 16)
    with pytest.raises(dataclasses.FrozenInstanceError):
        architecture.latent_dim = 3
    model(images())
    widths = [layer.filters for layer in model.encoder.layers if hasattr(layer, "filters")]
    assert widths[: len(TINY["filters"])] == list(TINY["filters"])


@pytest.mark.parametrize(
    "bad, word",
    [
        ({"pooling": "median"}, "pooling"),
        ({"upsampling": "cubic"}, "upsampling"),
        ({"reconstruction_loss": "l1"}, "reconstruction_loss"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"filters": ()}, "filters"),
        ({"block_convs": 0}, "block_convs"),
        ({"block_convs": (2, 0)}, "block_convs"),
        ({"block_convs": (2, 2, 2)}, "block_convs"),
        ({"normalization": "layer"}, "normalization"),
        ({"bottleneck": "spatial"}, "bottleneck"),
        ({"bottleneck": "conv", "hidden_units": 8}, "hidden_units"),
    ],
)
def test_bad_constructor_arguments_are_named(bad, word):
    with pytest.raises(ValueError, match=word):
        convae_tf.get_model("ae", **bad)


def test_decode_before_build_says_how_to_fix():
    with pytest.raises(ValueError, match="build"):
        convae_tf.get_model("ae").decode(np.zeros((1, 16), np.float32))


def test_registry_refuses_duplicates_and_lists_names():
    with pytest.raises(ValueError, match="already registered"):
        registry.register("ae")(type("Other", (keras.Model,), {}))
    with pytest.raises(registry.UnknownModelError) as error:
        convae_tf.get_model("aee")
    assert "'ae'" in str(error.value) and "available models" in str(error.value)


def test_registered_models_are_keras_serializable(name):
    cls = registry.get(name)
    assert keras.saving.get_registered_object(f"convae_tf>{cls.__name__}") is cls


def test_score_is_the_per_example_reconstruction_error():
    model = tiny_model("ae", reconstruction_loss="mse")
    x = images(batch=3)
    expected = np.mean((np.asarray(model(x)) - x) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(model.score(x), expected, rtol=1e-5)
