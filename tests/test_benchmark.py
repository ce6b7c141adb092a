"""tools/benchmark.py's arithmetic (the FLOP count behind its MFU figure, the peak table) and
tools/gpu_figures.sh's refusal without a GPU."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

spec = importlib.util.spec_from_file_location("benchmark", Path(__file__).parents[1] / "tools" / "benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def test_step_flops_counts_forward_and_backward():
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(5, 8, requires_grad=True)

    def step():
        layer(x).sum().backward()

    # forward x @ W^T: 2 * 5 * 8 * 4; backward: the gradient of x and of W, the same count each
    assert benchmark.step_flops(step) == 3 * 2 * 5 * 8 * 4
    conv = torch.nn.Conv1d(2, 3, kernel_size=4, bias=False)
    wave = torch.randn(1, 2, 20)
    # forward only (no gradient): 17 outputs x 3 channels x (2 x 4) multiply-adds
    assert benchmark.step_flops(lambda: conv(wave).detach()) == 2 * 17 * 3 * 2 * 4


def test_peak_table():
    assert benchmark.peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert benchmark.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert benchmark.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert benchmark.peak_tflops("NVIDIA H200") == 989.4
    assert benchmark.peak_tflops("Some Future GPU") == 0.0


def test_padded_share():
    lengths = [10, 8, 5, 5, 2]
    # batches {10, 8}: 20 frames, 2 padded; {5, 5, 2}: 15 frames, 3 padded
    assert benchmark.padded_share([[0, 1], [2, 3, 4]], lengths) == 1 - 30 / 35
    assert benchmark.padded_share([[2, 3]], lengths) == 0.0


def test_gpu_figures_without_a_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the script would run its figures")
    script = Path(__file__).parents[1] / "tools" / "gpu_figures.sh"
    r = subprocess.run([str(script), "--out", str(tmp_path / "out"), "--python", sys.executable],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"{script}: error: {sys.executable} sees no CUDA device (torch.cuda.device_count() is 0); these figures need one"]
    bad = subprocess.run([str(script), "--device", "cuda"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown option '--device'" in bad.stderr


def test_w2v2_profile_prints_the_top_ops():
    """--pos_conv A,B: a figure for each form of the positional convolution, the FLOPs the same;
    --profile N: then a table of the N ops that took most of 3 profiled steps of the last form."""
    r = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "tools" / "benchmark.py"), "w2v2", "--size",
                        "tiny", "--batch", "1", "--seconds", "0.5", "--steps", "1", "--profile", "4",
                        "--pos_conv", "conv,fft"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(line.startswith("wav2vec2-tiny") and "audio s/s" in line for line in lines[:2])
    assert "positional conv conv," in lines[0] and "positional conv fft," in lines[1]
    assert len({re.search(r"([\d.,]+) GFLOP a step", line).group(1) for line in lines[:2]}) == 1
    lines = lines[1:]
    assert lines[1] == "3 steps (positional conv fft), the 4 ops with the most self_cpu_time_total:"
    rules = [i for i, line in enumerate(lines) if line.startswith("-----")]
    assert len(rules) == 3 and rules[2] - rules[1] - 1 == 4       # header, then exactly 4 op rows
    assert any("aten::" in line for line in lines[rules[1] + 1:rules[2]])
