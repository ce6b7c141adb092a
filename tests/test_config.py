"""Config loading: defaults, dotted overrides, strict keys with helpful messages."""
import pytest

from serkit.config import to_dict
from serkit.models.registry import load_train_config
from serkit.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return str(p)


def test_defaults_are_filled_for_components(tmp_path):
    cfg = load_train_config(write(tmp_path, "model: {encoder: blstm, encoder_conf: {hidden: 64}}"))
    assert cfg.model.encoder_conf == {"hidden": 64, "num_layers": 2, "dropout": 0.5, "bidirectional": True}
    assert cfg.optim.lr == 1e-3 and cfg.train.select_metric == "ua"
    assert to_dict(cfg)["model"]["heads"]["emotion"] == {"weight": 1.0, "hidden": 0, "dropout": 0.0,
                                                         "label_smoothing": 0.0, "class_weights": "none",
                                                         "dimensions": [], "regression_loss": "ccc"}
    assert to_dict(cfg)["data"]["augment"]["spec_augment"]["freq_masks"] == 0 and cfg.data.augment.mixup == 0


def test_dotted_overrides_parse_yaml_values(tmp_path):
    cfg = load_train_config(write(tmp_path, "train: {max_epochs: 3}"),
                      ["--model.heads.gender.weight", "0.1", "--optim.lr", "5e-5", "--data.emotions", "[ang, sad]"])
    assert cfg.model.heads["gender"].weight == 0.1
    assert cfg.optim.lr == 5e-5 and cfg.train.max_epochs == 3
    assert cfg.data.emotions == ["ang", "sad"]
    assert list(cfg.model.heads) == ["emotion", "gender"]  # the emotion head is always there


@pytest.mark.parametrize("text,overrides,message", [
    ("trian: {max_epochs: 3}", [], r"unknown config key 'trian'; valid keys: \['data', 'model'"),
    ("train: {max_epoch: 3}", [], r"unknown config key 'train.max_epoch'; valid keys: \[.*'max_epochs'"),
    ("model: {encoder: lstm9}", [], r"unknown encoder 'lstm9'; choose from \['blstm', 'cnn_blstm_att', 'fop_transformer', 'mpc_transformer', 'pretrained', 'resnet', 'wav2vec2'\]"),
    ("model: {encoder_conf: {hiden: 3}}", [], r"unknown config key 'model.encoder_conf.hiden'; valid keys: \['bidirectional', 'dropout', 'hidden', 'num_layers'\]"),
    ("model: {heads: {emotion: {}, age: {weight: 1}}}", [], r"unknown head 'age'"),
    ("optim: {name: adagrad}", [], r"'optim.name' is 'adagrad'; choose from"),
    ("train: {max_epochs: three}", [], r"'train.max_epochs' expects int, got 'three'"),
    ("", ["--train.patience"], r"has no value"),
    ("", ["model.pooling", "mean"], r"expected an option like"),
])
def test_errors_name_the_key(tmp_path, text, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(write(tmp_path, text), overrides)


def test_invalid_yaml_names_file(tmp_path):
    with pytest.raises(ConfigError, match="c.yaml: invalid YAML"):
        load_train_config(write(tmp_path, "a: [1, 2"))
