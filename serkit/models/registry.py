"""Name -> class registries for the components a config selects (plain dicts)."""
from serkit.models.encoders.blstm import BLSTMEncoder
from serkit.models.encoders.cnn_blstm_att import CNNBLSTMAttEncoder
from serkit.models.encoders.pretrained import PretrainedEncoder
from serkit.models.encoders.transformer import FOPTransformer, MPCTransformer
from serkit.models.heads import ClassifierHead
from serkit.models.pooling import LastPooling, LocalAttentionPooling, MeanPooling, SumPooling

ENCODERS = {"blstm": BLSTMEncoder, "cnn_blstm_att": CNNBLSTMAttEncoder,
            "fop_transformer": FOPTransformer, "mpc_transformer": MPCTransformer, "pretrained": PretrainedEncoder}
POOLINGS = {"last": LastPooling, "mean": MeanPooling, "sum": SumPooling, "local_attention": LocalAttentionPooling}
HEADS = {"emotion": ClassifierHead, "gender": ClassifierHead, "speaker": ClassifierHead}
# data-dir file that holds each head's targets
HEAD_TARGETS = {"emotion": "utt2emo", "gender": "utt2gender", "speaker": "utt2spk"}
