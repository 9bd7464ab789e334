"""One static page per results folder, `index.html`: the claims table and every figure in the
paper's order, beside the paper's caption and finding, with links to the executed notebooks (and
their HTML renderings). It opens offline (images are relative links, no scripts, no external
styles), so a collaborator can be sent the folder; a figure opens full size when clicked.
"""

from __future__ import annotations

import html
import struct
from pathlib import Path

from .claims import Claim, as_text, tally_text
from .files import atomic_write_text

# Figure file stem prefix -> what the paper shows there (caption and finding, abridged), in the
# paper's order (main text, then appendices); training curves last.
PAPER = {
    "fig1_": "Fig. 1: a 32 x 32 Gaussian bump and a sum of stripes centred at (16, 16), sigma = 1.",
    "fig2a": "Fig. 2(a): projections of the coupled 3D torus and the factorized Clifford torus.",
    "fig2b": "Fig. 2(b): persistence of a standard torus and of the model: H0 = 1, H1 = 2, H2 = 1 (a torus).",
    "fig2c": "Fig. 2(c): accuracy appears over training; the effective dimension rises, falls and settles near 7.",
    "fig2d": "Fig. 2(d): the top 4 PCs become prominent as training converges (a 4D torus).",
    "fig2e-g": "Fig. 2(e)-(g): PCA views over training; the last resembles the Clifford torus.",
    "fig3_": "Fig. 3: x-on-y statistics match the Clifford torus; x-on-x and y-on-y resemble the 3D torus's x-on-y (hyper-factorization).",
    "fig4ab": "Fig. 4(a), (b): the 2D SOS set with the cross held out, and the 1D stripes set.",
    "fig4c-e": "Fig. 4(c)-(e): the 2D model is right in the seen coordinate only; 2D+1D right everywhere; 1D fails to compose.",
    "fig4f": "Fig. 4(f): the held-out cross and its vertical, horizontal and intersection parts.",
    "fig4g": "Fig. 4(g): bumps + stripes reach up to 70% in the test regions, similar down to 20% of the bumps.",
    "fig5ab": "Fig. 5(a), (b): with stripes, far fewer 2D bumps reach 60% accuracy.",
    "fig5c_scaling_2d": "Fig. 5(c), counting 2D bumps only.",
    "fig5c": "Fig. 5(c): data for 60% accuracy grows about linearly in N with stripes, quadratically without.",
    "fig6b": "Fig. 6(b): overlap of neighbouring bumps against the increment; it goes beyond 1 near half a pixel (pixelation).",
    "fig6c": "Fig. 6(c): the largest cluster percolates at smaller lambda for larger sigma; sigma = 0.1 never does.",
    "fig6d": "Fig. 6(d): a generated sigma = 0.1 bump is wider than its training image.",
    "fig6e": "Fig. 6(e): terminal accuracy rises with lambda and sigma; high variance for sigma = 0.3, 0.5.",
    "fig8_": "Fig. 8: Wasserstein distances of the ring statistics to the ideal tori over training.",
    "fig9a-d": "Fig. 9(a)-(d): 0D, 1D and 2D images of the extended 44 x 44 label space, and a 2D bump.",
    "fig9e-h": "Fig. 9(e)-(h), 10(a), (d): the latent pictures of the 2D, 1D and 2D+1D training sets.",
    "fig10ad": "Fig. 10(a), (d): 1D stripes without and with the 2D rim.",
    "fig10be": "Fig. 10(b), (e): with the rim the stripes model composes as well as the 2D+1D model.",
    "fig10c": "Fig. 10(c): without the rim the model draws one stripe at the right place, not their sum.",
    "fig10f": "Fig. 10(f): with the rim the model draws the sum of stripes.",
    "fig11a": "Fig. 11(a): training sets with a vertical lesion of growing width.",
    "fig11b": "Fig. 11(b): accuracy in the lesion decays gradually with its width.",
    "fig11c": "Fig. 11(c): the representations become increasingly disconnected with the width.",
    "fig12": "Fig. 12(c)-(f): bumps decay slowly in interior squares and quickly in exterior ones; SOS stay high.",
    "fig13": "Fig. 13: the mass ratio for several threshold overlaps.",
    "fig14a": "Fig. 14(a): the nested datasets (each larger lambda a superset).",
    "fig14b": "Fig. 14(b): mass ratio at threshold 0.05 for the trained sigmas.",
    "fig14c": "Fig. 14(c): training and validation losses grow with lambda.",
    "fig15": "Fig. 15: representations are less rigid for small lambda and sigma.",
    "training_": "Learning curves: loss and the cheap read-out of the EMA model over training.",
}
ORDER = list(PAPER)
COLOURS = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "inconclusive": "#6e7781"}
STYLE = """body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:4px;vertical-align:top}figure{display:inline-block;width:48%;margin:0.5%;vertical-align:top}
figure.wide{width:98%}img{max-width:100%}figcaption{font-size:12px}code{font-size:11px}"""


def _match(stem: str) -> str | None:
    return max((p for p in PAPER if stem.startswith(p)), key=len, default=None)


def caption(stem: str) -> str:
    best = _match(stem)
    return PAPER[best] if best else ""


def paper_order(stems) -> list[str]:
    """Figure stems sorted in the paper's order (unknown ones last, by name)."""
    return sorted(stems, key=lambda s: (ORDER.index(_match(s)) if _match(s) else len(ORDER), s))


def _is_wide(png: Path) -> bool:
    """A multi-panel figure (more than twice as wide as high) gets the page's full width."""
    width, height = struct.unpack(">II", png.read_bytes()[16:24])  # the PNG header's IHDR chunk
    return width > 2 * height


def _claim_row(c: Claim) -> str:
    esc = html.escape
    runs = "".join(f"<code>{esc(r['hash'])}</code> {esc(str(r.get('steps', '')))} {esc(str(r.get('convergence', '')))}<br>" for r in c.runs)
    controls = "<br>".join(f"{esc(k)}: {esc(as_text(v))}" for k, v in c.controls.items())
    reason = f"<br><i>{esc(c.reason)}</i>" if c.reason else ""
    return (f"<tr><td>{esc(c.claim)}</td><td>{esc(c.kind)}</td><td>{esc(c.figure)}</td><td>{esc(c.paper)}</td><td>{esc(c.criterion)}</td>"
            f"<td>{esc(str(c.estimate))}</td><td>{esc(c.measured)}{reason}</td><td>{controls}</td><td>{runs}</td>"
            f"<td style='color:{COLOURS[c.verdict]};font-weight:bold'>{esc(c.verdict)}</td></tr>")


def build(results_dir, claims: list[Claim], provenance: dict, preset: str) -> Path:
    """Write `<results_dir>/index.html` from the claims and the figures and notebooks found there."""
    folder = Path(results_dir)
    esc = html.escape
    rows = "".join(_claim_row(c) for c in claims)
    stems = paper_order(p.stem for p in (folder / "figures").glob("*.png"))
    cards = "".join(f"<figure{' class=wide' if _is_wide(folder / 'figures' / f'{s}.png') else ''}>"
                    f"<a href='figures/{esc(s)}.png'><img src='figures/{esc(s)}.png' alt='{esc(s)}'></a>"
                    f"<figcaption><b>{esc(s)}</b> (<a href='figures/{esc(s)}.pdf'>pdf</a>). Paper: {esc(caption(s))}</figcaption></figure>"
                    for s in stems)
    notebooks = "".join(f"<li><a href='notebooks/{esc(p.stem)}.html'>{esc(p.stem)}</a> (<a href='notebooks/{esc(p.name)}'>ipynb</a>)</li>"
                        if p.with_suffix(".html").exists() else f"<li><a href='notebooks/{esc(p.name)}'>{esc(p.name)}</a></li>"
                        for p in sorted((folder / "notebooks").glob("*.ipynb")))
    code = provenance.get("code", {})
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>paperlib: {esc(preset)} results</title><style>{STYLE}</style></head><body>
<h1>How Diffusion Models Learn to Factorize and Compose: results of the <code>{esc(preset)}</code> preset</h1>
<p>Code {esc(str(code.get('commit')))}{' (with uncommitted changes)' if code.get('dirty') else ''}; {esc(str(provenance.get('time')))};
device {esc(str(provenance.get('device')))}; torch {esc(str(provenance.get('versions', {}).get('torch')))}.
{esc(tally_text(claims))}. Estimates are the decisive quantity with a 95% interval; "controls" are the same reading of
the input images, an untrained network or a memorizer; "runs" the trained models a claim rests on (hash, steps, convergence).</p>
<h2>Claims</h2><table><tr><th>claim</th><th>kind</th><th>figure</th><th>paper</th><th>criterion</th><th>estimate [95%]</th><th>measured</th>
<th>controls</th><th>runs</th><th>verdict</th></tr>
{rows}</table>
<h2>Figures, in the paper's order</h2>{cards}
<h2>Executed notebooks</h2><ul>{notebooks}</ul>
</body></html>
"""
    return atomic_write_text(folder / "index.html", page)
