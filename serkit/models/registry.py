"""Name -> class registries for the components a config selects (plain dicts)."""
from serkit.models.encoders.blstm import BLSTMEncoder
from serkit.models.encoders.cnn_blstm_att import CNNBLSTMAttEncoder
from serkit.models.encoders.pretrained import PretrainedEncoder
from serkit.models.encoders.resnet import ResNetEncoder
from serkit.models.encoders.transformer import FOPTransformer, MPCTransformer
from serkit.models.encoders.wav2vec2 import Wav2Vec2Encoder
from serkit.models.heads import ClassifierHead, CTCHead
from serkit.models.pooling import (AttentiveStatsPooling, LastPooling, LocalAttentionPooling, MeanPooling,
                                   SumPooling)

ENCODERS = {"blstm": BLSTMEncoder, "cnn_blstm_att": CNNBLSTMAttEncoder,
            "fop_transformer": FOPTransformer, "mpc_transformer": MPCTransformer, "pretrained": PretrainedEncoder,
            "resnet": ResNetEncoder, "wav2vec2": Wav2Vec2Encoder}
POOLINGS = {"last": LastPooling, "mean": MeanPooling, "sum": SumPooling, "local_attention": LocalAttentionPooling,
            "attentive_stats": AttentiveStatsPooling}
HEADS = {"emotion": ClassifierHead, "gender": ClassifierHead, "speaker": ClassifierHead, "ctc": CTCHead}
# heads on the encoder's frames rather than on the pooled utterance vector
FRAME_HEADS = {"ctc"}
# data-dir file that holds each head's targets
HEAD_TARGETS = {"emotion": "utt2emo", "gender": "utt2gender", "speaker": "utt2spk", "ctc": "text"}
