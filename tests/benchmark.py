"""Benchmarks (not tests: run them by hand).

    .venv/bin/python tests/benchmark.py                 # walkthroughs, tiny profile
    .venv/bin/python tests/benchmark.py tiny quick      # several profiles, side by side
    .venv/bin/python tests/benchmark.py attacks         # our PGD vs torchattacks' PGD
    .venv/bin/python tests/benchmark.py jsma            # our JSMA vs torchattacks' JSMA
    .venv/bin/python tests/benchmark.py grading [N]     # grading throughput, N submissions
    .venv/bin/python tests/benchmark.py ood             # our MSP/energy vs pytorch-ood's
    .venv/bin/python tests/benchmark.py attribution     # our Grad-CAM/occlusion vs references
    .venv/bin/python tests/benchmark.py stealing        # our Square attack vs torchattacks'
    .venv/bin/python tests/benchmark.py umap            # UMAP's first use: numba's cache

Walkthroughs: runs each notebook with papermill in a temporary output directory
(stand-in data unless real data is in $TAI_DATA_DIR) and prints a table of seconds per
notebook and profile.

grading: builds a scratch course with N submissions of every lab (alternately the
solution and the untouched lab), grades them once serially (--jobs 1) and once in
parallel (--jobs = number of cores), both sandboxed, and prints submissions per minute
and the parallel/serial ratio; it also checks that both runs gave the same grades.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import papermill

REPO = Path(__file__).resolve().parent.parent


def main(profiles: list[str]) -> None:
    notebooks = sorted(REPO.glob("book/*/*.ipynb"))
    times: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["TAI_OUTPUT_DIR"] = scratch
        os.environ.pop("TAI_PROFILE", None)
        for notebook in notebooks:
            for profile in profiles:
                start = time.perf_counter()
                papermill.execute_notebook(str(notebook), str(Path(scratch) / notebook.name),
                                           parameters={"profile": profile, "seed": 0},
                                           cwd=str(notebook.parent), progress_bar=False)
                times.setdefault(notebook.parent.name, {})[profile] = time.perf_counter() - start
                print(f"{notebook.parent.name:16s} {profile:6s} {times[notebook.parent.name][profile]:7.1f} s",
                      flush=True)
    print(f"\n{'notebook':16s}" + "".join(f"{p:>10s}" for p in profiles))
    for chapter, row in times.items():
        print(f"{chapter:16s}" + "".join(f"{row[p]:9.1f}s" for p in profiles))
    print(f"cores: {os.cpu_count()}")


def best_seconds(runs: dict, repeats: int) -> dict[str, float]:
    """Best wall time in seconds of each of ``runs`` ({name: function}) over ``repeats``.

    The runs alternate, so that background load hits all of them alike.
    """
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in seconds.items()}


def attacks_benchmark(repeats: int = 5, batch: int = 256, steps: int = 10) -> float:
    """Throughput of helpers.attacks.pgd vs torchattacks.PGD, same model and batch, one run.

    Both attack a small CNN (width 16) on ``batch`` random images, without random start
    (so both compute exactly the same thing, which is checked), alternating runs so that
    background load hits both alike. Prints images/s of each and the ratio ours/theirs.
    """
    import torch
    import torchattacks

    from helpers import attacks
    from helpers.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", width=16).eval()
    images = torch.rand(batch, 3, 32, 32)
    labels = torch.randint(0, 10, (batch,))
    eps, step = 8 / 255, 2 / 255
    theirs_attack = torchattacks.PGD(model, eps=eps, alpha=step, steps=steps, random_start=False)
    runs = {"ours": lambda: attacks.pgd(model, images, labels, eps, step, steps),
            "torchattacks": lambda: theirs_attack(images, labels)}
    assert (runs["ours"]() - runs["torchattacks"]()).abs().max() <= 1e-6
    best = best_seconds(runs, repeats)
    for name, value in best.items():
        print(f"PGD-{steps} {name:13s} {batch / value:8.1f} images/s (best of {repeats})")
    ratio = best["torchattacks"] / best["ours"]
    print(f"throughput ratio ours / torchattacks: {ratio:.2f}x "
          f"(threads: {torch.get_num_threads()}, cores: {os.cpu_count()})")
    return ratio


def jsma_benchmark(batch: int = 8) -> float:
    """Seconds per image of helpers.attacks.jsma vs torchattacks.JSMA (28×28 grayscale).

    Both attack the causal chapter's untrained shallow net towards each image's
    runner-up class with θ = 1, γ = 0.1; the results are checked to agree first.
    """
    import torch
    import torchattacks

    from helpers import attacks, causal

    torch.manual_seed(0)
    model = causal.shallow_cnn(16).eval()
    images = torch.rand(batch, 1, 28, 28) * 0.5
    with torch.no_grad():
        targets = model(images).argsort(1)[:, -2]
    reference = torchattacks.JSMA(model, theta=1.0, gamma=0.1)
    reference.set_mode_targeted_by_label(quiet=True)
    runs = {"ours": lambda: attacks.jsma(model, images, targets),
            "torchattacks": lambda: reference(images, targets)}
    seconds, outputs = {}, {}
    for name, run in runs.items():
        start = time.perf_counter()
        outputs[name] = run()
        seconds[name] = (time.perf_counter() - start) / batch
        print(f"JSMA {name:13s} {seconds[name]:.3f} s/image")
    difference = (outputs["ours"] - outputs["torchattacks"]).abs().max().item()
    ratio = seconds["torchattacks"] / seconds["ours"]
    print(f"speed ratio ours / torchattacks: {ratio:.2f}x; max |difference| {difference:.1e}")
    return ratio


def attribution_benchmark(repeats: int = 5, batch: int = 64) -> dict[str, float]:
    """Grad-CAM vs pytorch-grad-cam and captum, occlusion vs captum: same model and batch.

    The model is the sparsity chapter's CAM network (width 16) on ``batch`` random 32×32
    images; every pair is first checked to give the same maps. Runs alternate so that
    background load hits all alike; prints images/s (best of ``repeats``) and the ratios
    ours / theirs (above 1: ours is faster).
    """
    import torch
    from captum.attr import LayerAttribution, LayerGradCam, Occlusion
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from helpers import attribution, sparsity

    torch.manual_seed(0)
    model = sparsity.cam_cnn(width=16).eval()
    layer = sparsity.cam_layer(model)
    images = torch.rand(batch, 3, 32, 32)
    targets = torch.randint(0, 10, (batch,))
    gradcam_lib = GradCAM(model=model, target_layers=[layer])
    captum_cam, captum_occlusion = LayerGradCam(model, layer), Occlusion(model)

    def captum_grad_cam():
        maps = captum_cam.attribute(images, target=targets, relu_attributions=True)
        maps = LayerAttribution.interpolate(maps, (32, 32), interpolate_mode="bilinear")
        return attribution.normalize_maps(maps.detach()[:, 0])

    runs = {
        "Grad-CAM ours": lambda: attribution.grad_cam(model, images, layer, targets),
        "Grad-CAM pytorch-grad-cam": lambda: torch.from_numpy(gradcam_lib(
            input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])),
        "Grad-CAM captum": captum_grad_cam,
        "occlusion ours": lambda: attribution.occlusion(
            model, images, targets, window=4, stride=2, normalize=False, batch_size=1024),
        "occlusion captum": lambda: captum_occlusion.attribute(
            images, sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2), baselines=0.5,
            target=targets, perturbations_per_eval=16)[:, 0],
    }
    outputs = {name: run() for name, run in runs.items()}
    for name in ("Grad-CAM pytorch-grad-cam", "Grad-CAM captum"):
        assert (outputs[name] - outputs["Grad-CAM ours"]).abs().max() <= 1e-5, name
    assert (outputs["occlusion captum"] - outputs["occlusion ours"]).abs().max() <= 1e-5
    best = best_seconds(runs, repeats)
    for name, value in best.items():
        print(f"{name:26s} {batch / value:9.1f} images/s (best of {repeats})")
    pairs = {"Grad-CAM vs pytorch-grad-cam": ("Grad-CAM pytorch-grad-cam", "Grad-CAM ours"),
             "Grad-CAM vs captum": ("Grad-CAM captum", "Grad-CAM ours"),
             "occlusion vs captum": ("occlusion captum", "occlusion ours")}
    ratios = {name: best[theirs] / best[ours] for name, (theirs, ours) in pairs.items()}
    for name, ratio in ratios.items():
        print(f"throughput ratio ours / theirs, {name}: {ratio:.2f}x")
    print(f"(threads: {torch.get_num_threads()}, cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f})")
    gradcam_lib.activations_and_grads.release()
    return ratios


def grading(count: int) -> None:
    """Serial vs parallel sandboxed grading of ``count`` submissions per lab."""
    import json
    import shutil

    from helpers.grading import autograde, release

    with tempfile.TemporaryDirectory() as scratch:
        course, folder = Path(scratch) / "course", Path(scratch) / "submissions"
        course.mkdir()
        shutil.copy(REPO / "nbgrader_config.py", course)
        for name in ("solutions", "labs"):
            shutil.copytree(REPO / name, course / name)
        release(course_dir=course)
        labs = sorted(p.name for p in (course / "solutions").iterdir() if p.is_dir())
        for lab in labs:
            for i in range(count):
                source = ("solutions" if i % 2 == 0 else "labs")
                path = folder / f"student{i:03d}" / lab / f"{lab}_lab.ipynb"
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / source / lab / f"{lab}_lab.ipynb", path)
        rates, grades = {}, {}
        for jobs in (1, os.cpu_count() or 1):
            start = time.perf_counter()
            rows = autograde(folder, course_dir=course, jobs=jobs, force=True, progress=False)
            minutes = (time.perf_counter() - start) / 60
            rates[jobs] = len(rows) / minutes
            grades[jobs] = json.dumps({(r["lab"] + "/" + r["student"]): r["tests"] for r in rows},
                                      sort_keys=True)
            print(f"jobs={jobs}: {len(rows)} submissions in {minutes * 60:.0f} s "
                  f"= {rates[jobs]:.1f} submissions/min; load average {os.getloadavg()[0]:.1f}",
                  flush=True)
    serial, parallel = rates[1], rates[max(rates)]
    print(f"\ngrading: serial {serial:.1f}/min, parallel ({max(rates)} jobs) {parallel:.1f}/min, "
          f"ratio {parallel / serial:.2f}; same grades: {grades[1] == grades[max(rates)]}; "
          f"cores: {os.cpu_count()}")


def ood_benchmark(repeats: int = 5, batch: int = 512, logit_rows: int = 200_000) -> dict:
    """Our MSP and energy scoring vs pytorch-ood's MaxSoftmax and EnergyBased, one run.

    Two measurements, each on the same inputs for both (the scores are checked equal
    after flipping pytorch-ood's sign): end to end on a batch of ``batch`` random images
    through the same small CNN (model forward included), and the score alone on
    ``logit_rows`` precomputed logit rows. Runs alternate so background load hits both
    alike; prints the best of ``repeats`` and the ratio ours / pytorch-ood in time.
    """
    import torch
    from pytorch_ood.detector import EnergyBased, MaxSoftmax

    from helpers import models, ood

    torch.manual_seed(0)
    model = ood.build_classifier("small_cnn", 9, 16).eval()
    images = torch.rand(batch, 3, 32, 32)
    logits = torch.randn(logit_rows, 9) * 3
    theirs = {"MSP": MaxSoftmax(model), "energy": EnergyBased(model)}
    ratios = {}
    for name, ours in ood.SCORES.items():
        def theirs_images(detector=theirs[name]):
            with torch.no_grad():
                return -detector.predict(images)
        cases = {"images": (lambda: ours(models.logits(model, images, batch_size=batch)),
                            theirs_images),
                 "logits": (lambda: ours(logits),
                            lambda detector=theirs[name]: -detector.predict_logits(logits))}
        for case, (run_ours, run_theirs) in cases.items():
            assert torch.allclose(run_ours(), run_theirs(), atol=1e-5), (name, case)
            best = best_seconds({"ours": run_ours, "pytorch-ood": run_theirs}, repeats)
            ratios[f"{name}/{case}"] = best["ours"] / best["pytorch-ood"]
            print(f"{name:6s} {case:6s} ours {best['ours'] * 1e3:8.2f} ms   pytorch-ood "
                  f"{best['pytorch-ood'] * 1e3:8.2f} ms   time ratio ours/pytorch-ood "
                  f"{ratios[f'{name}/{case}']:.2f}", flush=True)
    print(f"(best of {repeats}; {batch} images through a small CNN, or {logit_rows:,} "
          f"logit rows; threads: {torch.get_num_threads()}, cores: {os.cpu_count()})")
    return ratios


def stealing_benchmark(repeats: int = 3, batch: int = 64, max_queries: int = 200) -> float:
    """Throughput of helpers.query_attacks.square_attack (through a QueryAPI) vs
    torchattacks.Square on the same small CNN, images, seed and scores, one run.

    torchattacks sees the log of the API's probabilities as its logits, so both take the
    same decisions: the adversarial images are checked equal. Prints images/s of each
    and the ratio ours/torchattacks.
    """
    import torch
    import torchattacks

    from helpers.models import build_model
    from helpers.query_attacks import square_attack
    from helpers.stealing import QueryAPI

    torch.manual_seed(0)
    model = build_model("small_cnn", width=8).eval()
    images = torch.rand(batch, 3, 32, 32)
    labels = QueryAPI(model).scores(images).argmax(1)

    class LogScores(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.api, self.dummy = QueryAPI(model), torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.log(self.api.scores(x).clamp_min(1e-30))

    theirs_attack = torchattacks.Square(LogScores(), eps=0.1, n_queries=max_queries - 2,
                                        seed=0)
    runs = {"ours": lambda: square_attack(QueryAPI(model), images, labels, 0.1,
                                          max_queries=max_queries, seed=0).adversarial,
            "torchattacks": lambda: theirs_attack(images, labels)}
    ours, theirs = runs["ours"](), runs["torchattacks"]()
    fooled = (ours != images).flatten(1).any(1) & (theirs != images).flatten(1).any(1)
    assert (ours[fooled] - theirs[fooled]).abs().max() <= 1e-6   # same fooling images
    best = best_seconds(runs, repeats)
    print(f"{int(fooled.sum())} of {batch} images fooled by both, identical")
    for name, value in best.items():
        print(f"Square-{max_queries} {name:13s} {batch / value:8.1f} images/s "
              f"(best of {repeats})")
    ratio = best["torchattacks"] / best["ours"]
    print(f"throughput ratio ours / torchattacks: {ratio:.2f}x "
          f"(threads: {torch.get_num_threads()}, cores: {os.cpu_count()})")
    return ratio


def umap_benchmark() -> None:
    """Wall seconds of a new process that draws one UMAP map (200 × 64 points, imports
    included), with an empty numba cache, then with the cache the kit fills (every umap
    and pynndescent kernel, robustness.embed_2d), then calling umap directly as before
    (only pynndescent's own kernels cached)."""
    import subprocess

    points = "np.random.default_rng(0).normal(size=(200, 64)).astype('float32')"
    kit = (f"import numpy as np; from helpers import robustness; "
           f"robustness.embed_2d({points}, 'umap')")
    plain = (f"import numpy as np, umap; "
             f"umap.UMAP(random_state=0, n_jobs=1).fit_transform({points})")
    runs = [("empty cache", kit), ("the kit's cache", kit), ("umap's own caching only", plain)]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, OMP_NUM_THREADS="1")
        for name, code in runs:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, check=True)
            print(f"UMAP map in a new process, {name:25s} {time.perf_counter() - start:6.1f} s")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["attacks"]:
        attacks_benchmark()
    elif arguments[:1] == ["ood"]:
        ood_benchmark()
    elif arguments[:1] == ["jsma"]:
        jsma_benchmark()
    elif arguments[:1] == ["stealing"]:
        stealing_benchmark()
    elif arguments[:1] == ["umap"]:
        umap_benchmark()
    elif arguments[:1] == ["attribution"]:
        attribution_benchmark()
    elif arguments[:1] == ["grading"]:
        grading(int(arguments[1]) if len(arguments) > 1 else 6)
    else:
        main(arguments or ["tiny"])
