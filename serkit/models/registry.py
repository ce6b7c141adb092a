"""Name -> class registries for the components a config selects (plain dicts)."""
from serkit.models.encoders.blstm import BLSTMEncoder
from serkit.models.heads import ClassifierHead
from serkit.models.pooling import LastPooling, MeanPooling, SumPooling

ENCODERS = {"blstm": BLSTMEncoder}
POOLINGS = {"last": LastPooling, "mean": MeanPooling, "sum": SumPooling}
HEADS = {"emotion": ClassifierHead, "gender": ClassifierHead, "speaker": ClassifierHead}
# data-dir file that holds each head's targets
HEAD_TARGETS = {"emotion": "utt2emo", "gender": "utt2gender", "speaker": "utt2spk"}
