"""CLI commands: ``cxrlab explain``, ``cxrlab export``, ``cxrlab predict``, ``cxrlab serve``."""

from __future__ import annotations

from pathlib import Path

import typer

from cxrlab.cli import options
from cxrlab.cli.common import DEFAULT_WORKDIR, err_console, say, writable


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("explain")(explain_command)
    app.command("export")(export_command)
    app.command("predict")(predict_command)
    app.command("serve")(serve_command)


def explain_command(
    run: Path = typer.Argument(..., help="Run folder (cxrlab-out/runs/NAME) or checkpoint folder."),
    images: list[Path] = typer.Argument(..., help="Image files (PNG, JPEG, DICOM...)."),
    out: Path = options.out(DEFAULT_WORKDIR / "explain", "Folder for the overlay PNGs."),
    class_name: str = typer.Option(None, "--class", help="Explain this class (default: each image's predicted class)."),
    which: str = options.checkpoint(),
) -> None:
    """Grad-CAM heatmap overlays (PNG), on each film at its own aspect, showing which regions drove
    the model's score. Exit status 1 when any image could not be explained."""
    from cxrlab.explain.files import explain_files

    writable(out, folder=True)
    failed = 0
    for item in explain_files(run, images, out, class_name, which):
        if item.error:
            failed += 1
            err_console().print(f"[red]skipped[/] {item.path}: {item.error}", highlight=False)
        else:
            say(f"{item.path}: predicted {item.predicted} ({item.probability:.1%}), "
                 f"heatmap for {item.explained_class} -> {item.output}")
    if failed:
        err_console().print(f"[red]{failed} of {len(images)} image(s) could not be explained[/]; exit status 1",
                            highlight=False)
        raise typer.Exit(1)


def export_command(
    run: Path = typer.Argument(..., help="Run folder or checkpoint folder."),
    out: Path = options.out(None, "Bundle file (default: cxrlab-out/<run name>.cxrlab)."),
    which: str = options.checkpoint(),
    evaluation: Path = typer.Option(None, "--evaluation", help="metrics.json for the card (default: RUN/evaluation/metrics.json)."),
    exporter: str = typer.Option("auto", "--exporter", help="auto (TorchScript, else dynamo), torchscript or dynamo."),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Largest accepted |ONNX Runtime - PyTorch| logit difference."),
    loso: Path = typer.Option(None, "--loso", help="A 'cxrlab loso' folder of the same recipe: its held-out-source "
                              "results and failure modes go into the model card."),
    profile_films: int = typer.Option(400, "--profile-films", min=0, help="Describe this many of the run's films in "
                                      "the bundle's training profile, for 'cxrlab site-check' (0 = no profile)."),
) -> None:
    """Export a trained model to one deployable bundle: ONNX graph + model card + checksums,
    verified against PyTorch with ONNX Runtime."""
    from cxrlab.export.bundle import export_bundle
    from cxrlab.artifacts.checkpoint import resolve_checkpoint_dir
    from cxrlab.artifacts.run_folder import run_folder

    if out is None:
        out = DEFAULT_WORKDIR / f"{run_folder(resolve_checkpoint_dir(run, which)).name}.cxrlab"
    writable(out)
    updates = None
    if loso is not None:
        from cxrlab.loso.summary import external_validation

        updates = {"external_validation": external_validation(loso)}
    report = export_bundle(run, out, which, evaluation, exporter, tolerance, profile_films, card_updates=updates)
    p = report.parity
    cams = f", CAM relative diff {p.cams_max_rel_diff:.1e}" if p.cams_max_rel_diff is not None else ""
    say(f"exported with {report.exporter}: ONNX Runtime vs PyTorch max |logit diff| {p.logits_max_abs_diff:.1e} "
         f"(probabilities {p.probs_max_abs_diff:.1e}{cams}) on {p.samples} samples, tolerance {tolerance:.0e}")
    say(f"heatmaps in the bundle: {'yes' if report.heatmaps else 'no (head is not pool+linear)'}")
    say(f"training profile: {report.profile}")
    say(f"wrote {report.path} ({report.bytes / 1e6:.1f} MB, sha256 {report.sha256[:16]}...)")


def predict_command(
    bundle: Path = typer.Argument(..., help="Model bundle (.cxrlab) from 'cxrlab export'."),
    paths: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or glob patterns."),
    out: Path = options.out(DEFAULT_WORKDIR / "predictions.csv", "CSV to write."),
    batch_size: int = options.batch_size(32),
    heatmaps: Path = typer.Option(None, "--heatmaps", help="Also write heatmap overlay PNGs into this folder."),
    workers: int = options.decode_threads("Threads decoding images."),
    threads: int = options.onnx_threads(),
    max_pixels: int = options.max_pixels(64_000_000, "Refuse images larger than this."),
) -> None:
    """Predict many images with a bundle (no torch needed) into a CSV: probabilities, predicted
    class, decision at the operating threshold, warnings, and an error column for unreadable files.

    Exit status: 0 when every input was predicted, 1 when any could not be (the CSV is still
    written, one row per input), 2 when nothing could start (bad bundle, no input, unwritable --out)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from cxrlab.predict.batch import predict_files, write_csv
    from cxrlab.predict.files import collect_paths
    from cxrlab.predict.predictor import Predictor

    predictor = Predictor.from_bundle(bundle, threads=threads)
    files, warnings = collect_paths(paths)
    writable(out)
    if heatmaps is not None:
        writable(heatmaps, folder=True)
    if heatmaps is not None and not predictor.has_heatmaps:
        warnings.append(f"{bundle}: this model's bundle has no heatmap output (see 'heatmap' in its card); "
                        "use 'cxrlab explain' on the run for Grad-CAM")
    for warning in warnings:
        err_console().print(f"[yellow]warning:[/] {warning}", highlight=False)
    columns = (TextColumn("predicting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console(), transient=True) as progress:
        task = progress.add_task("predict", total=len(files))
        rows = predict_files(predictor, files, batch_size, heatmaps, workers, max_pixels,
                             on_progress=lambda n: progress.advance(task, n))
        counts = write_csv(rows, out, predictor.classes)
    decided = ", ".join(f"{k}: {v}" for k, v in counts.items() if k not in ("images", "errors", "warned"))
    say(f"{counts['images']} images, {counts['errors']} unreadable; decisions - {decided or 'none'}")
    if counts["warned"]:
        say(f"{counts['warned']} prediction(s) carry a warning (lateral view, degenerate image...): "
            "see the warnings column")
    say(f"wrote {out}")
    if counts["errors"]:
        err_console().print(f"[red]{counts['errors']} of {counts['images']} input(s) could not be predicted[/] "
                            "(see the error column); exit status 1", highlight=False)
        raise typer.Exit(1)


def serve_command(
    bundle: Path = typer.Argument(..., help="Model bundle (.cxrlab) from 'cxrlab export'."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 = every interface)."),
    port: int = typer.Option(8000, "--port"),
    max_upload_mb: float = typer.Option(32.0, "--max-upload-mb", min=0.01, help="Largest accepted upload."),
    max_pixels: int = options.max_pixels(50_000_000, "Largest accepted image (width x height)."),
    max_concurrent: int = typer.Option(2, "--max-concurrent", min=1, help="Inferences running at once."),
    threads: int = options.onnx_threads(1, "ONNX Runtime threads per inference (0 = its default)."),
    read_timeout: float = typer.Option(30.0, "--read-timeout", min=0.1,
                                       help="Seconds an upload may stall before it is refused (408); 10x for the whole body."),
) -> None:
    """Serve the model: REST API (/v1/predict, /v1/model, /health) and a web page at /."""
    import uvicorn

    from cxrlab.export.bundle_file import read_bundle
    from cxrlab.predict.predictor import Predictor
    from cxrlab.serve.app import create_app
    from cxrlab.serve.config import ServeConfig

    config = ServeConfig(host=host, port=port, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                         max_pixels=max_pixels, max_concurrent=max_concurrent, threads=threads,
                         read_timeout_s=read_timeout)
    read_bundle(bundle)  # refuse a bad bundle here, with a plain error, before the server starts
    app = create_app(lambda: Predictor.from_bundle(bundle, threads=config.threads), config)
    say(f"serving {bundle} on http://{host}:{port}/  (research use only - not a medical device)")
    uvicorn.run(app, host=config.host, port=config.port, log_level="info")
