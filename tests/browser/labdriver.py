"""JupyterLab in a scratch folder, driven by headless Chromium: shared by tests/browser and the benchmarks.

No pytest here, so ``benchmarks/bench_widgets.py`` can use it too. The pieces:

* :func:`missing_requirement`: why a browser run cannot happen here (no Chromium, no
  Playwright), as one line that says how to fix it, or ``None``.
* :class:`LabServer`: ``python -m jupyterlab`` on a free localhost port, serving *copies*
  of notebooks (outputs and saved widget state stripped, or byte for byte with ``verbatim``)
  from a temporary folder, with its own config, data, runtime, settings and workspace
  folders, so neither the checkout nor the user's Jupyter settings are touched. Autosave is
  off unless ``settings`` turn it on. Its notebooks are not trusted (a fresh notary), as
  for anyone who clones the course. Always :meth:`LabServer.stop` it.
* :func:`launch_browser`: Debian's ``chromium`` (Playwright cannot download browsers here)
  with a fresh profile and no background networking.
* :class:`NotebookPage`: open a notebook (a new page, or in a page already showing
  JupyterLab), "Run All Cells" from the menu, wait for the kernel, collect error outputs,
  see how widget outputs render, compare images, time a slider move, save, close.

Every wait has a bound; a timeout says what it was waiting for.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
CHROMIUM_ENV = "SBD_CHROMIUM"  # path of a Chromium binary, overriding the search
CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_HINT = "install it with `apt-get install -y chromium` (as root; .ci/run does this), then run `make test-browser`"
PLAYWRIGHT_HINT = "install it with `make setup` (pip install -e '.[dev]')"
# Without the background-networking flags Chromium keeps dialling Google services, which are refused here.
CHROMIUM_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-default-browser-check",
)
VIEWPORT = {"width": 1500, "height": 1100}
START_TIMEOUT_S = 120.0  # JupyterLab answering its REST API (a cold start on 2 cores takes ~10 s)
STOP_TIMEOUT_S = 15.0
PORT_ATTEMPTS = 3
LOG_TAIL_LINES = 30
ACTION_TIMEOUT_MS = 30_000  # Playwright's default for clicks, presses, waits
APP_TIMEOUT_S = 90.0  # the JupyterLab page loaded and the notebook's kernel idle
RUN_TIMEOUT_S = 420.0  # "Run All Cells" of one notebook in quick mode
IMAGE_TIMEOUT_S = 30.0  # one slider move -> new image
POLL_MS = 250

# JupyterLab user settings written into the scratch settings folder.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},  # every cell in the DOM
    "@jupyterlab/apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"},
}


class LabError(RuntimeError):
    """JupyterLab, Chromium or a notebook did not do what a browser run needs; the message says what."""


# ----------------------------------------------------------------------------------------
# Requirements
# ----------------------------------------------------------------------------------------

def find_chromium() -> str | None:
    """Path of the Chromium binary: ``$SBD_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return override if Path(override).is_file() else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing_requirement() -> str | None:
    """One line saying what a browser run lacks here and how to install it, or ``None``."""
    if find_chromium() is None:
        where = f" (${CHROMIUM_ENV}={os.environ[CHROMIUM_ENV]} is not a file)" if os.environ.get(CHROMIUM_ENV) else ""
        return f"chromium not found{where}: {INSTALL_HINT}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"playwright not installed: {PLAYWRIGHT_HINT}"
    return None


# ----------------------------------------------------------------------------------------
# The server
# ----------------------------------------------------------------------------------------

def free_port() -> int:
    """A localhost TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_notebook(source: Path, target_dir: Path) -> Path:
    """Copy a notebook without outputs, execution counts or saved widget state (the page must build them live)."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    target = target_dir / source.name
    nbformat.write(nb, target)
    return target


class LabServer:
    """JupyterLab serving copies of notebooks from a scratch folder; use as a context manager.

    Args:
        notebooks: Notebook files to copy into the served folder (their names are kept).
        env: Extra environment of the server and so of its kernels (e.g. ``SBDLIB_SCALE``).
        files: Further ``{name: text}`` files to write into the served folder.
        verbatim: Copy the notebooks byte for byte (default: without outputs and widget state).
        settings: ``{plugin: {setting: value}}`` over :data:`LAB_SETTINGS` (e.g. autosave on).
    """

    def __init__(self, notebooks: Iterable[Path] = (), env: dict[str, str] | None = None,
                 files: dict[str, str] | None = None, verbatim: bool = False,
                 settings: dict[str, dict[str, Any]] | None = None) -> None:
        self.notebooks = [Path(p) for p in notebooks]
        self.verbatim = verbatim
        self.settings = {plugin: dict(values) for plugin, values in LAB_SETTINGS.items()}
        for plugin, values in (settings or {}).items():
            self.settings.setdefault(plugin, {}).update(values)
        self.extra_env = dict(env or {})
        self.files = dict(files or {})
        self.token = secrets.token_hex(16)
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.scratch = Path(tempfile.mkdtemp(prefix="sbd-lab-"))
        self.root = self.scratch / "notebooks"
        self.log_path = self.scratch / "server.log"
        self._log = None

    # -- life cycle ------------------------------------------------------------------

    def __enter__(self) -> "LabServer":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Prepare the scratch folders and start JupyterLab; retry on another port if one was taken."""
        self.root.mkdir(parents=True, exist_ok=True)
        for notebook in self.notebooks:
            if self.verbatim:
                shutil.copyfile(notebook, self.root / notebook.name)
            else:
                copy_notebook(notebook, self.root)
        for name, text in self.files.items():
            (self.root / name).write_text(text)
        self._write_settings()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = free_port()
            self._spawn()
            if self._wait_until_up(timeout_s):
                return
            returncode = self.process.poll()
            taken = returncode is not None and "already in use" in self.log_tail(200)
            self._terminate()
            if not taken or attempt == PORT_ATTEMPTS:
                why = (f"exited with status {returncode}" if returncode is not None
                       else f"did not answer within {timeout_s:.0f} s")
                raise LabError(f"JupyterLab (port {self.port}) {why}; its log ends: {self.log_tail()}")

    def stop(self) -> None:
        """Shut the kernels and the server down (politely, then by force) and remove the scratch folder."""
        if self.process is not None and self.process.poll() is None:
            for kernel in self._safe_api("GET", "/api/kernels") or []:
                self._safe_api("DELETE", f"/api/kernels/{kernel['id']}")
            self._safe_api("POST", "/api/shutdown")
            self._terminate()
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- access ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str = "") -> str:
        """URL that opens ``path`` (relative to the served folder; none: the file browser) in JupyterLab."""
        return f"{self.base_url}/lab{'/tree/' + path if path else ''}?token={self.token}"

    def api(self, method: str, path: str, timeout_s: float = 10.0) -> Any:
        """Call the server's REST API; returns the decoded JSON (``None`` for an empty body)."""
        request = urllib.request.Request(self.base_url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """End every notebook session and its kernel (between tests: frees CPU and memory)."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}", timeout_s=30.0)

    def log_lines(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last ``lines`` non-empty lines of the server log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ["(no server log)"]
        return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:] or ["(empty server log)"]

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """:meth:`log_lines` joined by `` | ``, to fit one message line."""
        return " | ".join(line.strip() for line in self.log_lines(lines))

    # -- internals -----------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("config", "data", "runtime", "settings", "workspaces", "ipython"):
            (self.scratch / name).mkdir(exist_ok=True)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.scratch / "config"),
            JUPYTER_DATA_DIR=str(self.scratch / "data"),
            JUPYTER_RUNTIME_DIR=str(self.scratch / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.scratch / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.scratch / "workspaces"),
            IPYTHONDIR=str(self.scratch / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
            # The kernels import this checkout's sbdlib even if another one is installed.
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        )
        env.update(self.extra_env)
        return env

    def _write_settings(self) -> None:
        for plugin, values in self.settings.items():
            path = self.scratch / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def _spawn(self) -> None:
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--ServerApp.terminals_enabled=False", "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # containers and CI run as root
        if self._log is None:
            self._log = open(self.log_path, "ab")
        # A session of its own, so stop() can end the server and its kernels together.
        self.process = subprocess.Popen(command, cwd=self.root, env=self._environment(), stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_until_up(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                self.api("GET", "/api/status", timeout_s=2.0)
                return True
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.25)
        return False

    def _safe_api(self, method: str, path: str) -> Any:
        try:
            return self.api(method, path, timeout_s=5.0)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def _terminate(self) -> None:
        """SIGTERM the server's process group, SIGKILL it if it outlives STOP_TIMEOUT_S."""
        process, self.process = self.process, None
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # kernels left in the group (the server is gone)
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ----------------------------------------------------------------------------------------
# The browser and a notebook page
# ----------------------------------------------------------------------------------------

def launch_browser(playwright: Any, profile_dir: Path) -> Any:
    """Headless Chromium with a fresh profile in ``profile_dir``; returns a Playwright BrowserContext."""
    executable = find_chromium()
    if executable is None:
        raise LabError(f"chromium not found: {INSTALL_HINT}")
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS),
        viewport=VIEWPORT, timeout=60_000,
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context


# JS: the open notebook panel, its kernel status and its code cells' state.
_NOTEBOOK_STATE_JS = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {phase: 'app'};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path || !panel.content) return {phase: 'panel'};
  const kernel = panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  const status = kernel ? kernel.status : 'none';
  const cells = panel.content.widgets.map(w => w.model).filter(m => m.type === 'code');
  const errors = [];
  let counted = 0;
  for (const cell of cells) {
    if (cell.executionCount !== null) counted += 1;
    for (const out of cell.outputs.toJSON()) {
      if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
    }
  }
  return {phase: 'ready', status, counted, total: cells.length, errors};
}
"""

# JS: how each widget output of the open notebook renders: the chosen mime type, its text, whether it shows an image.
_WIDGET_OUTPUTS_JS = """
(path) => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path) return null;
  const found = [];
  panel.content.widgets.forEach((cell, c) => {
    if (cell.model.type !== 'code') return;
    cell.model.outputs.toJSON().forEach((output, i) => {
      if (!output.data || !output.data['application/vnd.jupyter.widget-view+json']) return;
      const child = cell.outputArea.widgets[i];
      const node = child ? child.node.querySelector('[data-mime-type]') : null;
      found.push({cell: c, mime: node ? node.getAttribute('data-mime-type') : null,
                  text: node ? node.innerText.trim().slice(0, 300) : '', image: !!(node && node.querySelector('img'))});
    });
  });
  return found;
}
"""

# JS: SHA-256 of an <img>'s decoded pixels (drawn on a canvas), with its size.
_PIXELS_JS = """
async (img) => {
  if (!img.complete || img.naturalWidth === 0) await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const digest = await crypto.subtle.digest('SHA-256', data);
  const hex = Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join('');
  return {digest: hex, width: canvas.width, height: canvas.height};
}
"""

# JS: arm a probe timing one slider move, from the key event on the handle to the image's new src.
_ARM_PROBE_JS = """
([handle, img]) => {
  const probe = {t0: null, t1: null};
  window.__sbdProbe = probe;
  handle.addEventListener('keydown', () => { probe.t0 = performance.now(); }, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    if (probe.t0 !== null && probe.t1 === null) { probe.t1 = performance.now(); observer.disconnect(); }
  });
  observer.observe(img, {attributes: true, attributeFilter: ['src']});
  probe.observer = observer;
}
"""

# JS: description labels of widgets (sliders, dropdowns) that are missing, hidden or clipped (ellipsis).
_LABEL_PROBLEMS_JS = """
(controls) => controls.map((control, i) => {
  const label = control.querySelector(':scope > .widget-label');
  if (!label) return `control ${i}: no label`;
  const text = label.textContent.trim();
  const box = label.getBoundingClientRect();
  const style = getComputedStyle(label);
  if (!text) return `control ${i}: empty label`;
  if (box.width < 1 || box.height < 1 || style.visibility === 'hidden' || style.display === 'none')
    return `control ${i} ('${text}'): label not visible`;
  if (label.scrollWidth > label.clientWidth + 1) return `control ${i} ('${text}'): label clipped`;
  return null;
}).filter(p => p !== null)
"""


def _far_keys(handle: Any) -> tuple[str, str]:
    """``("Home", "End")``, or ``("End", "Home")`` when the slider handle already sits at its minimum."""
    at_min = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemin")
    return ("End", "Home") if at_min else ("Home", "End")


class NotebookPage:
    """One notebook of a :class:`LabServer`, open in a Playwright page."""

    def __init__(self, page: Any, server: LabServer, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name

    def state(self) -> dict[str, Any]:
        """Kernel status, executed / total code cells and error outputs of the notebook (from the app)."""
        return self.page.evaluate(_NOTEBOOK_STATE_JS, self.name)

    def open(self, timeout_s: float = APP_TIMEOUT_S) -> None:
        """Load JupyterLab on this notebook and wait until its kernel is idle."""
        self.page.goto(self.server.lab_url(self.name), timeout=timeout_s * 1000)
        self._wait_for("the notebook open with an idle kernel",
                       "s => s.phase === 'ready' && s.status === 'idle'", timeout_s)

    def open_in_app(self, timeout_s: float = APP_TIMEOUT_S) -> None:
        """Open this notebook in the JupyterLab already loaded in the page (File > Open); wait for an idle kernel.

        Much faster than :meth:`open` for a series of notebooks: the app loads once.
        """
        try:
            self.page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)",
                                        timeout=timeout_s * 1000, polling=POLL_MS)
        except Exception as error:
            raise LabError(f"{self.name}: JupyterLab did not load in the page within {timeout_s:.0f} s") from error
        self.page.evaluate("async (path) => { const app = window.jupyterapp; await app.restored; "
                           "await app.commands.execute('docmanager:open', {path}); }", self.name)
        self._wait_for("the notebook open with an idle kernel",
                       "s => s.phase === 'ready' && s.status === 'idle'", timeout_s)

    def is_dirty(self) -> bool:
        """Whether the open notebook has changes not saved yet."""
        return self.page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")

    def save(self) -> None:
        """File > Save: write the notebook as JupyterLab holds it (waits until the server has it)."""
        self.page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.context.save(); }")

    def close(self) -> None:
        """Shut the notebook's kernel down and close its tab, without asking to save."""
        self.page.evaluate("""async () => {
          const panel = window.jupyterapp.shell.currentWidget;
          await panel.sessionContext.shutdown();
          panel.dispose();
        }""")

    def widget_outputs(self) -> list[dict[str, Any]]:
        """Each widget output of the notebook: ``{cell, mime, text, image}`` as the page renders it."""
        return self.page.evaluate(_WIDGET_OUTPUTS_JS, self.name)

    def run_all(self, timeout_s: float = RUN_TIMEOUT_S) -> float:
        """Run > Run All Cells from the menu bar; wait for every code cell to run and the kernel to go idle.

        Returns:
            Seconds the run took.

        Raises:
            LabError: On an error output (naming it) or when the run outlasts ``timeout_s``.
        """
        start = time.monotonic()
        self.page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator(".lm-Menu-item:has(> .lm-Menu-itemLabel:text-is('Run All Cells'))").click()
        self._wait_for("Run All Cells to finish",
                       "s => s.phase === 'ready' && s.status === 'idle' && (s.errors.length > 0 || s.counted === s.total)",
                       timeout_s)
        state = self.state()
        if state["errors"]:
            raise LabError(f"{self.name}: error output after Run All Cells: {'; '.join(state['errors'])}")
        return time.monotonic() - start

    def explorer_column(self, label: str) -> Any:
        """Locator of one model's column in a latent explorer (:class:`sbdlib.figures.widgets.LatentExplorer`).

        The column is the VBox holding the model's name (e.g. "Spatial Broadcast"), its
        decoded image and its sliders; use ``:scope > .widget-image`` / ``:scope > .widget-slider``.
        """
        return self.page.locator(f".widget-vbox:has(> .widget-html:has-text({json.dumps(label)})):has(> .widget-image)")

    def widget_errors(self) -> list[str]:
        """Texts of "Error displaying widget" (and similar) placeholders rendered in the page."""
        return self.page.locator(".jp-OutputArea-output", has_text="Error displaying widget").all_inner_texts()

    def pixels(self, img: Any) -> dict[str, Any]:
        """``{digest, width, height}`` of an ``<img>`` locator's decoded pixels."""
        return img.evaluate(_PIXELS_JS)

    def wait_for_new_src(self, container: Any, css: str, old_src: str | None,
                         timeout_s: float = IMAGE_TIMEOUT_S) -> None:
        """Wait until the first ``css`` element inside ``container`` (a locator) has a ``src`` other than ``old_src``.

        The element is looked up afresh on every poll: an Output widget replaces its ``<img>``.
        """
        try:
            self.page.wait_for_function(
                "([box, css, old]) => { const img = box.querySelector(css); return !!img && !!img.src && img.src !== old; }",
                arg=[container.element_handle(), css, old_src], timeout=timeout_s * 1000, polling=POLL_MS,
            )
        except Exception as error:
            raise LabError(f"{self.name}: the image did not change within {timeout_s:.0f} s") from error

    def label_problems(self, controls: Any) -> list[str]:
        """Problems with the description labels of the widgets in a locator (sliders, dropdowns): [] if all show whole."""
        return controls.evaluate_all(_LABEL_PROBLEMS_JS)

    def move_slider(self, slider: Any) -> str:
        """Press Home or End on a slider widget's handle, whichever changes its value; returns the key."""
        handle = slider.locator(".noUi-handle").first
        key = _far_keys(handle)[0]
        handle.press(key)
        return key

    def slider_latencies(self, slider: Any, img: Any, repeats: int, warmup: int = 2,
                         timeout_s: float = IMAGE_TIMEOUT_S) -> list[float]:
        """Milliseconds from a key press on ``slider``'s handle to a new ``src`` on ``img``, ``repeats`` times.

        The page times it: a capturing ``keydown`` listener on the handle stamps the start,
        a ``MutationObserver`` on the image's ``src`` the end, both with ``performance.now()``.
        The handle gets Home and End in turn (the slider's min and max, see :func:`_far_keys`),
        so every press changes the value, by the slider's whole range: the decoding work is
        the same for any change, and the image certainly differs. The first ``warmup`` moves
        are not counted.
        """
        handle = slider.locator(".noUi-handle").first
        keys = _far_keys(handle)
        times = []
        for i in range(warmup + repeats):
            key = keys[i % 2]
            self.page.evaluate(_ARM_PROBE_JS, [handle.element_handle(), img.element_handle()])
            handle.press(key)
            try:
                self.page.wait_for_function("window.__sbdProbe.t1 !== null", timeout=timeout_s * 1000, polling="raf")
            except Exception as error:
                raise LabError(f"{self.name}: no new image {timeout_s:.0f} s after pressing {key} on a slider") from error
            probe = self.page.evaluate("({t0: window.__sbdProbe.t0, t1: window.__sbdProbe.t1})")
            if i >= warmup:
                times.append(probe["t1"] - probe["t0"])
        return times

    def _wait_for(self, what: str, predicate: str, timeout_s: float) -> None:
        """Poll the notebook state until ``predicate`` (JS, on the state) holds; LabError naming ``what`` if not."""
        try:
            self.page.wait_for_function(f"(path) => ({predicate})(({_NOTEBOOK_STATE_JS})(path))", arg=self.name,
                                        timeout=timeout_s * 1000, polling=POLL_MS)
        except Exception as error:
            try:
                state = self.state()
            except Exception:  # the page itself may be gone
                state = "unavailable"
            raise LabError(f"{self.name}: timed out after {timeout_s:.0f} s waiting for {what}; state {state}; "
                           f"server log ends: {self.server.log_tail(8)}") from error
