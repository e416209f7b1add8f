"""Tests of sbdlib.devices: device and precision per machine, every branch faked on the CPU."""

from __future__ import annotations

import pytest
import torch

from sbdlib import devices

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
MPS = torch.device("mps")
PRE_AMPERE = {"T4": (7, 5), "V100": (7, 0)}
NATIVE_BF16 = {"A100": (8, 0), "H100": (9, 0)}
# torch.cuda.is_bf16_supported as it answers on a T4 (True with emulation, the default) and the reverse
BF16_ANSWERS = {"emulation-true": lambda including_emulation=True: including_emulation,
                "always-false": lambda including_emulation=True: False,
                "always-true": lambda including_emulation=True: True}


@pytest.fixture(autouse=True)
def cpu_as_it_is(monkeypatch):
    """Each test sees the CPU itself (no SBDLIB_CPU_BF16) and no earlier measurement; it fakes what it needs."""
    monkeypatch.delenv(devices.CPU_BF16_ENV, raising=False)
    devices.forget_measurements()
    yield
    devices._BF16_PAYS.clear()  # a faked answer must not outlive its test


@pytest.fixture
def probes(monkeypatch):
    """Fake the fp16 probe's answer and record the devices it is asked about."""
    def fake(answer):
        calls = []
        monkeypatch.setattr(devices, "reduced_precision_is_faster",
                            lambda device, dtype: calls.append((device, dtype)) or answer)
        return calls
    return fake


def fake_cuda(monkeypatch, capability, bf16_answer=BF16_ANSWERS["emulation-true"], hip=None):
    """Make this process believe it has one CUDA GPU of ``capability``."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16_answer)
    monkeypatch.setattr(torch.version, "hip", hip)


@pytest.mark.parametrize("answer", sorted(BF16_ANSWERS))
@pytest.mark.parametrize("gpu", sorted(PRE_AMPERE))
def test_pre_ampere_gpus_never_get_bf16(monkeypatch, probes, gpu, answer):
    fake_cuda(monkeypatch, PRE_AMPERE[gpu], BF16_ANSWERS[answer])
    calls = probes(True)
    assert devices.choose_precision(CUDA) == devices.Precision(torch.float16, True)  # the probe found fp16 faster
    assert calls == [(CUDA, torch.float16)]
    assert devices.choose_precision(CUDA, population=True) == devices.Precision(torch.float16, False)
    probes(False)
    assert devices.choose_precision(CUDA) == devices.Precision(None, True)  # fp32 was faster or fp16 not finite
    assert devices.choose_precision(CUDA).name == "fp32"
    calls = probes(False)
    assert devices.choose_precision(CUDA, amp=True).name == "fp16" and calls == []  # asked for: no measurement
    assert devices.choose_precision(CUDA, amp=False) == devices.Precision(None, False)


@pytest.mark.parametrize("answer", sorted(BF16_ANSWERS))
@pytest.mark.parametrize("gpu", sorted(NATIVE_BF16))
def test_ampere_and_newer_get_bf16_without_a_probe(monkeypatch, probes, gpu, answer):
    fake_cuda(monkeypatch, NATIVE_BF16[gpu], BF16_ANSWERS[answer])
    calls = probes(False)
    assert devices.choose_precision(CUDA) == devices.Precision(torch.bfloat16, True)
    assert devices.choose_precision(CUDA, amp=True).name == "bf16"
    assert devices.choose_precision(CUDA, population=True) == devices.Precision(torch.bfloat16, False)
    assert devices.choose_precision(CUDA, amp=False).name == "fp32"
    assert calls == []


def test_rocm_gets_bf16(monkeypatch, probes):
    fake_cuda(monkeypatch, (7, 5), BF16_ANSWERS["always-true"], hip="6.2.41133")
    calls = probes(False)
    assert devices.cuda_has_native_bf16(CUDA)
    assert devices.choose_precision(CUDA).name == "bf16" and calls == []


def test_capability_is_what_decides(monkeypatch):
    for capability, native in [((6, 1), False), ((7, 5), False), ((8, 0), True), ((8, 9), True), ((12, 0), True)]:
        fake_cuda(monkeypatch, capability)
        assert devices.cuda_has_native_bf16(CUDA) is native, capability


def fake_cpu(monkeypatch, native: bool, speedup: float = 3.0) -> list:
    """Make this process see a CPU with or without native bf16 whose bf16 measures ``speedup`` x fp32;
    returns the list of model shapes measured."""
    monkeypatch.setattr(devices, "cpu_flags", lambda cpuinfo=None: {"avx512f", "amx_bf16"} if native else {"avx2"})
    measured = []
    monkeypatch.setattr(devices, "bf16_speedup",
                        lambda vae, batch_size: measured.append(devices.model_shape(vae, batch_size)) or speedup)
    return measured


@pytest.fixture(scope="module")
def small_vae():
    from sbdlib.models import VAE
    torch.manual_seed(0)
    return VAE("sbd", width=8, image_size=16)


@pytest.mark.parametrize("speedup, expected", [(3.0, "bf16"), (devices.BF16_MIN_SPEEDUP, "bf16"), (1.1, "fp32"),
                                               (0.5, "fp32")])
def test_native_bf16_cpu_defaults_to_bf16_where_it_measures_faster(monkeypatch, small_vae, speedup, expected):
    measured = fake_cpu(monkeypatch, native=True, speedup=speedup)
    p = devices.choose_precision(CPU, model=small_vae, batch_size=8)
    assert p.name == expected and p.channels_last == (expected == "bf16")
    assert devices.choose_precision(CPU, model=small_vae, batch_size=8) == p and len(measured) == 1  # cached
    devices.choose_precision(CPU, model=small_vae, batch_size=16)  # another shape: measured again
    assert len(measured) == 2
    assert devices.choose_precision(CPU, amp=False, model=small_vae, batch_size=8) == devices.Precision(None, False)
    assert devices.choose_precision(CPU, amp=True, model=small_vae, batch_size=8) == devices.Precision(torch.bfloat16, True)
    assert devices.choose_precision(CPU, population=True, model=small_vae, batch_size=8).name == "fp32"
    assert len(measured) == 2


def test_cpu_without_native_bf16_stays_fp32_and_never_measures(monkeypatch, small_vae):
    measured = fake_cpu(monkeypatch, native=False, speedup=100.0)
    assert devices.choose_precision(CPU, model=small_vae, batch_size=8) == devices.Precision(None, False)
    assert devices.choose_precision(CPU, amp=True, model=small_vae, batch_size=8).name == "bf16"  # asked for
    assert devices.choose_precision(CPU, amp=False).name == "fp32"
    assert measured == []


def test_environment_fakes_the_cpu_both_ways(monkeypatch, small_vae):
    measured = fake_cpu(monkeypatch, native=True, speedup=0.5)  # the real answer here would be fp32
    monkeypatch.setenv(devices.CPU_BF16_ENV, "native")
    assert devices.cpu_has_native_bf16() and devices.cpu_bf16_is_faster()
    assert devices.choose_precision(CPU, model=small_vae, batch_size=8) == devices.Precision(torch.bfloat16, True)
    assert devices.choose_precision(CPU).name == "bf16"
    monkeypatch.setenv(devices.CPU_BF16_ENV, "none")
    assert not devices.cpu_has_native_bf16() and not devices.cpu_bf16_is_faster()
    assert devices.choose_precision(CPU, model=small_vae, batch_size=8) == devices.Precision(None, False)
    assert measured == []
    assert devices.cpu_has_native_bf16({"amx_bf16"})  # explicit flags are read as given
    monkeypatch.setenv(devices.CPU_BF16_ENV, "yes")
    with pytest.raises(ValueError, match="is not one of .*unset it"):
        devices.choose_precision(CPU, model=small_vae, batch_size=8)


def test_model_shape_names_class_architecture_and_batch(small_vae):
    from sbdlib.models import VAE
    assert devices.model_shape(small_vae, 8) == devices.model_shape(VAE("sbd", width=8, image_size=16), 8)
    assert devices.model_shape(small_vae, 8) != devices.model_shape(small_vae, 16)
    assert devices.model_shape(small_vae, 8) != devices.model_shape(VAE("sbd", width=16, image_size=16), 8)


def test_bf16_speedup_measures_a_copy_and_leaves_the_model_alone(small_vae):
    before = {k: v.clone() for k, v in small_vae.state_dict().items()}
    rng = torch.get_rng_state()
    ratio = devices.bf16_speedup(small_vae, 4)
    assert ratio > 0 and ratio == ratio
    assert all(torch.equal(before[k], v) for k, v in small_vae.state_dict().items())
    assert all(p.grad is None for p in small_vae.parameters())
    assert all(p.is_contiguous() for p in small_vae.parameters())  # not turned channels-last
    assert torch.equal(torch.get_rng_state(), rng)  # the global generator untouched


def test_computed_in_says_device_and_precision():
    from sbdlib.training.history import History
    assert devices.computed_in(History(device="cpu", precision="bf16")) == "trained on cpu in bf16"
    assert devices.computed_in({"device": "cuda", "precision": "fp16"}) == "trained on cuda in fp16"
    rows = [{"device": "cpu", "precision": "fp32"}] * 3 + [{"device": "cpu", "precision": "bf16"}]
    assert devices.computed_in(rows) == "4 runs trained: 3 on cpu in fp32, 1 on cpu in bf16"


def test_cpu_flags_say_native_bf16():
    assert devices.cpu_has_native_bf16({"avx2", "avx512_bf16"})
    assert devices.cpu_has_native_bf16({"amx_bf16"})
    assert not devices.cpu_has_native_bf16({"avx2", "fma"})


def test_cpu_bf16_is_measured_only_where_native(monkeypatch, probes):
    calls = probes(True)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda flags=None: False)
    assert not devices.cpu_bf16_is_faster() and calls == []
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda flags=None: True)
    assert devices.cpu_bf16_is_faster() and calls == [(CPU, torch.bfloat16)]


def fake_mps(monkeypatch, mps=True, cuda=False):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)


def test_mps_is_the_default_after_cuda(monkeypatch):
    fake_mps(monkeypatch)
    assert devices.default_device() == MPS
    assert devices.resolve_device(None) == MPS and devices.resolve_device("mps") == MPS
    assert devices.choose_precision(MPS) == devices.Precision(None, False)
    with pytest.raises(ValueError, match="fp32 on MPS"):
        devices.choose_precision(MPS, amp=True)
    fake_mps(monkeypatch, cuda=True)
    assert devices.default_device() == CUDA
    fake_mps(monkeypatch, mps=False)
    assert devices.default_device() == CPU
    with pytest.raises(ValueError, match="'mps' is not available.*device='cpu'"):
        devices.resolve_device("mps")


def test_device_errors_name_every_choice():
    for bad in ("gpu please", "tpu"):
        with pytest.raises(ValueError, match="'cpu', 'cuda', 'cuda:N' or 'mps'"):
            devices.resolve_device(bad)


TORCH_MPS_MESSAGE = ("The operator 'aten::grid_sampler_2d_backward' is not currently implemented for the MPS device. "
                     "If you want this op to be added in priority during the prototype phase of this feature, please "
                     "comment on https://github.com/pytorch/pytorch/issues/77764. As a temporary fix, you can set the "
                     "environment variable `PYTORCH_ENABLE_MPS_FALLBACK=1` to use the CPU as a fallback for this op.")


def test_a_missing_mps_operation_is_one_line():
    with pytest.raises(NotImplementedError) as info:
        with devices.explain_mps_errors(MPS):
            raise NotImplementedError(TORCH_MPS_MESSAGE)
    line = str(info.value)
    assert "\n" not in line and "'aten::grid_sampler_2d_backward'" in line
    assert "PYTORCH_ENABLE_MPS_FALLBACK=1" in line and "device='cpu'" in line
    with pytest.raises(NotImplementedError, match="If you want this op"):  # other devices: unchanged
        with devices.explain_mps_errors(CPU):
            raise NotImplementedError(TORCH_MPS_MESSAGE)
    with pytest.raises(KeyError):
        with devices.explain_mps_errors(MPS):
            raise KeyError("not ours")
    assert devices.mps_error_line(NotImplementedError("something else")).startswith("an operation is not")


def test_probe_measures_once_per_device_and_checks_finiteness(monkeypatch):
    monkeypatch.setitem(devices.PROBE_SHAPES, "cpu", (2, 4, 8, 8))
    timed = []

    def fake_time(x, w, dtype):
        timed.append(dtype)
        return (1.0, True) if dtype is None else (0.5, finite)
    monkeypatch.setattr(devices, "_time_conv", fake_time)
    devices._probe.cache_clear()
    finite = True
    assert devices.reduced_precision_is_faster(CPU, torch.float16)
    assert devices.reduced_precision_is_faster(CPU, torch.float16) and timed == [None, torch.float16]  # cached
    finite = False
    assert not devices.reduced_precision_is_faster(CPU, torch.bfloat16)  # faster but not finite: never chosen
    devices._probe.cache_clear()


def test_probe_cuda_device_is_indexed(monkeypatch):
    asked = []
    monkeypatch.setattr(devices, "_probe", lambda device, dtype: asked.append(device) or True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert devices.reduced_precision_is_faster(CUDA, torch.float16)
    assert asked == [torch.device("cuda", 0)]


def test_timed_conv_reports_overflow():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 4, 8, 8, generator=g), torch.randn(4, 4, 5, 5, generator=g) / 10
    seconds, finite = devices._time_conv(x, w, torch.float16)
    assert seconds > 0 and finite
    assert not devices._time_conv(x * 1e6, w, torch.float16)[1]  # beyond fp16's 65504
    assert devices._time_conv(x * 1e6, w, None)[1]  # fp32 holds it


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.cuda
def test_real_gpu_precision_follows_capability():
    device = torch.device("cuda", torch.cuda.current_device())
    major, minor = torch.cuda.get_device_capability(device)
    p = devices.choose_precision(device)
    if (major, minor) >= devices.CUDA_NATIVE_BF16 or torch.version.hip:
        assert p.name == "bf16"
    else:
        assert p.name in ("fp16", "fp32")
        assert p.name == ("fp16" if devices.reduced_precision_is_faster(device, torch.float16) else "fp32")


@pytest.mark.parametrize("cpu, expected", [("native", "bf16"), ("none", "fp32")])
def test_train_default_follows_the_cpu_faked_both_ways(monkeypatch, cpu, expected):
    from sbdlib.data import Circles
    from sbdlib.models import VAE
    from sbdlib.training import train
    monkeypatch.setenv(devices.CPU_BF16_ENV, cpu)
    torch.manual_seed(0)
    vae = VAE("sbd", width=4, image_size=16)
    h = train(vae, Circles("xy", image_size=16), steps=2, batch_size=4, progress="none")
    assert h.precision == expected and h.device == "cpu"
    assert all(p.is_contiguous(memory_format=torch.channels_last) == (expected == "bf16")
               for p in vae.parameters() if p.dim() == 4)
    h = train(vae, Circles("xy", image_size=16), steps=2, batch_size=4, progress="none", amp=False)
    assert h.precision == "fp32"


def test_train_default_on_this_cpu_is_its_measured_choice():
    from sbdlib.data import Circles
    from sbdlib.models import VAE
    from sbdlib.training import train
    torch.manual_seed(0)
    vae = VAE("sbd", width=8, image_size=16)
    h = train(vae, Circles("xy", image_size=16), steps=1, batch_size=8, progress="none")
    pays = devices.cpu_bf16_pays(vae, 8)  # cached: the answer the run used
    assert h.precision == ("bf16" if pays else "fp32")
    if not devices.cpu_has_native_bf16(devices.cpu_flags()):
        assert h.precision == "fp32"


# ----------------------------------------------------------------------------- memory before training


def course_vae(decoder: str = "sbd"):
    """A course-sized VAE at 32 x 32 (its weights from seed 0)."""
    from sbdlib.models import VAE

    torch.manual_seed(0)
    return VAE(decoder, width=8, image_size=32)


def test_step_memory_grows_with_the_batch_and_the_sbd_needs_more_per_image():
    sbd, deconv = (devices.step_memory(course_vae(d), (3, 32, 32)) for d in ("sbd", "deconv"))
    assert sbd.per_image > deconv.per_image > 3 * 32 * 32 * 4  # more than the image itself
    assert sbd.at(64) - sbd.at(32) == 32 * sbd.per_image and sbd.fixed > 0
    assert sbd.largest_batch(sbd.at(100)) == 100 and sbd.largest_batch(sbd.fixed - 1) == 0


def test_step_memory_counts_every_member_and_the_stacked_ones_at_once():
    vae = course_vae()
    one = devices.step_memory(vae, (3, 32, 32))
    sequential = devices.step_memory(vae, (3, 32, 32), members=8)
    stacked = devices.step_memory(vae, (3, 32, 32), members=8, concurrent=8)
    assert sequential.per_image == one.per_image and sequential.fixed > one.fixed
    assert stacked.per_image == 8 * one.per_image


def test_step_memory_leaves_the_model_and_the_random_generator_as_they_were():
    vae = course_vae()
    before = [p.detach().clone() for p in vae.parameters()]
    torch.manual_seed(5)
    devices.step_memory(vae, (3, 32, 32))
    drawn = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(drawn, torch.rand(3))
    assert all(torch.equal(a, b) for a, b in zip(before, vae.parameters()))
    assert all(p.grad is None for p in vae.parameters())


def test_a_batch_that_cannot_fit_is_refused_in_one_line_naming_what_fits():
    vae = course_vae()
    need = devices.step_memory(vae, (3, 32, 32))
    assert devices.check_batch_fits(vae, 32, CPU, image_shape=(3, 32, 32), available=need.at(32)) == need
    with pytest.raises(ValueError) as err:
        devices.check_batch_fits(vae, 1000, CPU, image_shape=(3, 32, 32), available=need.at(100))
    line = str(err.value)
    assert "\n" not in line and line.startswith("batch_size 1,000 does not fit")
    assert "cpu has" in line and "available" in line and "use batch_size <= 100" in line
    with pytest.raises(ValueError, match="even one image does not fit: train fewer models"):
        devices.check_batch_fits(vae, 1, CPU, image_shape=(3, 32, 32), members=50, available=need.fixed)


def test_available_memory_reads_meminfo_the_cgroup_limit_and_cuda(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   2000000 kB\n")
    assert devices._meminfo_available(meminfo) == 2000000 * 1024
    assert devices._meminfo_available(tmp_path / "none") is None
    limit, used = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text("max\n")
    assert devices._cgroup_available(limit, used) is None
    limit.write_text("1000000\n"), used.write_text("250000\n")
    assert devices._cgroup_available(limit, used) == 750000
    monkeypatch.setattr(devices, "_cgroup_available", lambda: 1234)
    assert devices.available_memory(CPU) == 1234  # a container's limit below the machine's memory
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (5 * 2**30, 80 * 2**30))
    assert devices.available_memory(CUDA) == 5 * 2**30
    assert devices._size(5 * 2**30) == "5.0 GiB" and devices._size(512) == "512 B"


def test_train_refuses_a_huge_batch_before_any_step(tmp_path):
    from sbdlib.data import Circles
    from sbdlib.training import train, train_many

    with pytest.raises(ValueError, match=r"^batch_size 1,000,000,000 does not fit: .* needs about [\d.]+ TiB") as err:
        train(course_vae(), Circles("xy", image_size=32), batch_size=10**9, steps=2, progress="none",
              checkpoint=tmp_path / "run.pt")
    assert "\n" not in str(err.value) and not (tmp_path / "run.pt").exists()
    with pytest.raises(ValueError, match="8 models"):
        train_many([course_vae() for _ in range(8)], Circles("xy", image_size=32), seeds=list(range(8)),
                   batch_size=10**9, steps=2, progress="none")


def test_an_object_run_refuses_a_huge_batch_before_training(tmp_path):
    import dataclasses

    from sbdlib.experiments import object_runs

    settings = dataclasses.replace(object_runs.OBJECT_SETTINGS["quick"], batch_size=10**9)
    with pytest.raises(ValueError, match=r"^batch_size 1,000,000,000 does not fit"):
        object_runs.train_objects("sbd", 0, settings, path=tmp_path / "run.pt")
    assert not (tmp_path / "run.pt").exists()
