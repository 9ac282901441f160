"""Box-constrained convex quadratic programs used by the fitters.

All solve   min_x  1/2 x^T H x - g^T x   subject to   lb <= x <= ub
with H symmetric positive definite.

* :func:`solve_box_qp` (dense, up to a few hundred unknowns): projected Newton
  with an active set (Bertsekas 1982). Each iteration fixes the variables that sit
  on a bound with the gradient pushing outwards, takes the Newton step on the
  others and backtracks along the projection arc. A handful of iterations with a
  small Cholesky each: ~0.1 ms for 53 unknowns, which is what the per-frame
  fitter needs.
* :func:`solve_box_qps`: the same method on many independent problems at once (the
  image-motion refit of every frame of a clip): one batched solve per iteration. For a
  single problem it is ~2.7x slower than :func:`solve_box_qp` (array bookkeeping), so the
  live per-frame fitter keeps the single one.
* :func:`solve_arrow_qp` (the whole-video problem): unknowns are one identity
  block (Ki) plus F expression blocks (Ke each); the expression part is
  block-banded (frame f couples to f +- 2 through the second-difference term),
  the identity couples to every frame ("arrow" matrix). Solved by ADMM on the box
  with one factorisation per call: banded Cholesky of the expression part and a
  Schur complement for the identity, so each iteration is one banded solve.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, cho_solve_banded, cholesky_banded


def solve_box_qp(H: np.ndarray, g: np.ndarray, lb: np.ndarray, ub: np.ndarray,
                 x0: np.ndarray | None = None, max_iter: int = 30, tol: float = 1e-9) -> np.ndarray:
    """Dense box QP by projected Newton. H (n, n), g (n,), lb/ub (n,) -> x (n,)."""
    n = g.shape[0]
    x = np.clip(np.zeros(n) if x0 is None else np.asarray(x0, np.float64), lb, ub)
    Hx = H @ x
    f = 0.5 * x @ Hx - g @ x
    scale = max(1.0, float(np.abs(g).max(initial=0.0)))
    for _ in range(max_iter):
        grad = Hx - g
        at_lb = (x <= lb) & (grad > 0)
        at_ub = (x >= ub) & (grad < 0)
        free = ~(at_lb | at_ub)
        # projected gradient norm is the optimality measure
        pg = np.where(free, grad, 0.0)
        if np.abs(pg).max(initial=0.0) <= tol * scale:
            break
        d = np.zeros(n)
        Hf = H[np.ix_(free, free)]
        try:
            # np.linalg.solve: a fraction of scipy's wrapper overhead at these sizes
            d[free] = -np.linalg.solve(Hf, grad[free])
        except np.linalg.LinAlgError:
            d[free] = -grad[free] / np.maximum(np.diag(Hf), 1e-12)
        alpha = 1.0
        for _ls in range(20):
            xn = np.clip(x + alpha * d, lb, ub)
            Hxn = H @ xn
            fn = 0.5 * xn @ Hxn - g @ xn
            # Armijo on the projection arc (sufficient decrease w.r.t. the actual move)
            if fn <= f + 1e-4 * grad @ (xn - x):
                break
            alpha *= 0.5
        else:
            break
        if np.abs(xn - x).max(initial=0.0) < 1e-12:
            x, Hx, f = xn, Hxn, fn
            break
        x, Hx, f = xn, Hxn, fn
    return x


def solve_box_qps(H: np.ndarray, g: np.ndarray, lb: np.ndarray, ub: np.ndarray, x0: np.ndarray,
                  max_iter: int = 30, tol: float = 1e-9) -> np.ndarray:
    """Many independent box QPs at once: :func:`solve_box_qp`'s projected Newton, step for step.

    H (B, n, n), g (B, n), lb/ub (n,), x0 (B, n) -> x (B, n). Each problem stops on its own
    test; the solves of the ones still running are batched (one LAPACK call per iteration
    instead of a Python loop over problems). Variables at an active bound are taken out of the
    Newton system by replacing their rows and columns with the identity and zeroing their
    gradient, which gives the same step as solving the free block alone."""
    B, n = g.shape
    x = np.clip(np.asarray(x0, np.float64), lb, ub)
    Hx = np.einsum("bij,bj->bi", H, x)
    f = 0.5 * np.einsum("bi,bi->b", x, Hx) - np.einsum("bi,bi->b", g, x)
    scale = np.maximum(1.0, np.abs(g).max(1, initial=0.0))
    running = np.ones(B, bool)
    eye = np.eye(n)
    for _ in range(max_iter):
        idx = np.flatnonzero(running)
        if idx.size == 0:
            break
        xr, Hr, gr = x[idx], H[idx], g[idx]
        grad = Hx[idx] - gr
        free = ~(((xr <= lb) & (grad > 0)) | ((xr >= ub) & (grad < 0)))
        pg = np.where(free, grad, 0.0)
        done = np.abs(pg).max(1, initial=0.0) <= tol * scale[idx]
        running[idx[done]] = False
        keep = ~done
        idx, xr, Hr, grad, free = idx[keep], xr[keep], Hr[keep], grad[keep], free[keep]
        if idx.size == 0:
            break
        both = free[:, :, None] & free[:, None, :]
        Hf = np.where(both, Hr, eye[None])
        try:
            d = -np.linalg.solve(Hf, np.where(free, grad, 0.0)[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular free block somewhere: solve one by one
            d = np.zeros_like(xr)
            for k in range(idx.size):
                fk = free[k]
                try:
                    d[k, fk] = -np.linalg.solve(Hr[k][np.ix_(fk, fk)], grad[k, fk])
                except np.linalg.LinAlgError:
                    d[k, fk] = -grad[k, fk] / np.maximum(np.diag(Hr[k])[fk], 1e-12)
        fr = f[idx]
        alpha = np.ones(idx.size)
        accepted = np.zeros(idx.size, bool)
        xn = xr.copy()
        Hxn = Hx[idx].copy()
        fn = fr.copy()
        for _ls in range(20):
            todo = ~accepted
            if not todo.any():
                break
            xt = np.clip(xr[todo] + alpha[todo, None] * d[todo], lb, ub)
            Ht = np.einsum("bij,bj->bi", Hr[todo], xt)
            ft = 0.5 * np.einsum("bi,bi->b", xt, Ht) - np.einsum("bi,bi->b", g[idx[todo]], xt)
            ok = ft <= fr[todo] + 1e-4 * np.einsum("bi,bi->b", grad[todo], xt - xr[todo])
            t_idx = np.flatnonzero(todo)
            xn[t_idx[ok]], Hxn[t_idx[ok]], fn[t_idx[ok]] = xt[ok], Ht[ok], ft[ok]
            accepted[t_idx[ok]] = True
            alpha[t_idx[~ok]] *= 0.5
        # no sufficient decrease within the line search: that problem stops where it is
        running[idx[~accepted]] = False
        a = idx[accepted]
        moved = np.abs(xn[accepted] - xr[accepted]).max(1, initial=0.0)
        x[a], Hx[a], f[a] = xn[accepted], Hxn[accepted], fn[accepted]
        running[a[moved < 1e-12]] = False
    return x


@dataclass
class ArrowSystem:
    """The whole-video normal equations, kept in structured form.

    Hii : (Ki, Ki)        identity block (data + prior)
    Hie : (F, Ki, Ke)     identity-expression coupling, one block per frame
    Hee : (F, Ke, Ke)     per-frame expression blocks (data + prior)
    temporal : (3, F) or (3, F, Ke)   frame-level banded matrix (upper form: rows =
                          offsets 2, 1, 0), the same for every component ((3, F)) or
                          one per component ((3, F, Ke)); it never couples two
                          different components
    gi : (Ki,), ge : (F, Ke)   right-hand sides
    """

    Hii: np.ndarray
    Hie: np.ndarray
    Hee: np.ndarray
    temporal: np.ndarray
    gi: np.ndarray
    ge: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        F, Ki, Ke = self.Hie.shape
        return F, Ki, Ke

    def band(self, row: int) -> np.ndarray:
        """Row ``row`` of the temporal band as (F, 1) or (F, Ke) (broadcasts over components)."""
        T = self.temporal[row]
        return T[:, None] if T.ndim == 1 else T

    def matvec(self, xi: np.ndarray, xe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """H @ [xi, xe] for xi (Ki,), xe (F, Ke)."""
        yi = self.Hii @ xi + np.einsum("fij,fj->i", self.Hie, xe)
        ye = np.einsum("fij,fj->fi", self.Hee, xe) + np.einsum("fij,i->fj", self.Hie, xi)
        T0, T1, T2 = self.band(0), self.band(1), self.band(2)
        ye = ye + T2 * xe
        ye[:-1] += T1[1:] * xe[1:]
        ye[1:] += T1[1:] * xe[:-1]
        ye[:-2] += T0[2:] * xe[2:]
        ye[2:] += T0[2:] * xe[:-2]
        return yi, ye

    def objective(self, xi: np.ndarray, xe: np.ndarray) -> float:
        """The quadratic objective 0.5 x^T H x - g^T x at identity ``xi`` (Ki,) and expressions ``xe`` (F,
        Ke)."""
        yi, ye = self.matvec(xi, xe)
        return float(0.5 * (xi @ yi + np.sum(xe * ye)) - xi @ self.gi - np.sum(xe * self.ge))

    def banded_expression(self, rho: np.ndarray) -> np.ndarray:
        """Upper banded storage (u+1, F*Ke) of the expression block + diag(rho), u = 2*Ke.

        rho : scalar or (F, Ke)."""
        F, Ki, Ke = self.shape
        u = 2 * Ke
        n = F * Ke
        ab = np.zeros((u + 1, n))
        r, c = np.triu_indices(Ke)
        cols = (np.arange(F)[:, None] * Ke + c[None, :])
        ab[u + r - c, cols] = self.Hee[:, r, c]
        k = np.arange(Ke)
        # temporal band: frame offset d puts T[2-d, f+d] at element offset d*Ke
        for d in (0, 1, 2):
            vals = np.broadcast_to(self.band(2 - d), (F, Ke))  # pair (f-d, f) stored at column f
            ab[u - d * Ke, (np.arange(F)[:, None] * Ke + k[None, :]).ravel()] += vals.ravel()
        ab[u] += np.broadcast_to(rho, (F, Ke)).ravel()
        return ab


def solve_arrow_qp(sys_: ArrowSystem, lbi: np.ndarray, ubi: np.ndarray, lbe: np.ndarray, ube: np.ndarray,
                   xi0: np.ndarray | None = None, xe0: np.ndarray | None = None,
                   duals: tuple[np.ndarray, np.ndarray] | None = None,
                   max_iter: int = 35, tol: float = 1e-3,
                   rho_scale: float = 0.1) -> tuple[np.ndarray, np.ndarray, dict]:
    """Box QP over [identity (Ki), expressions (F, Ke)] by ADMM.

    lbi/ubi (Ki,), lbe/ube (Ke,) or (F, Ke). ``tol`` is on the primal/dual residuals
    in coefficient units (std units or activations, O(1)): 1e-3 of a blendshape
    activation is far below anything visible. ``duals``: the scaled dual variables
    ``info["duals"]`` of a previous call on a nearby problem (warm start; they are
    relative to rho, which is re-derived from the new curvatures).
    Expression-block variables with infinite bounds on both sides are free: they get no
    ADMM penalty, so each iteration solves for them exactly given the bounded ones.
    Returns identity (Ki,), expressions (F, Ke), info dict (iterations, residuals, duals).

    ``rho_scale`` 0.1 and ``max_iter`` 35 (d6, ICT, the landmark fit's two solves): to ``tol``
    the iterations take 103 / 72 with 0.2, 60 / 56 with 0.05; the former default (0.2, 50
    iterations) stopped up to 0.019 (p99 0.0094) away from the converged expressions, 0.1 with
    35 stops within 0.0053 (p99 0.003), in less CPU (the whole landmark fit 6.2 -> 5.9 s of
    thread CPU on a loaded machine; 6.5 -> 5.5 s on a quieter one).
    """
    F, Ki, Ke = sys_.shape
    lbe = np.broadcast_to(lbe, (F, Ke))
    ube = np.broadcast_to(ube, (F, Ke))
    # One penalty per variable, proportional to its curvature: the same as running
    # ADMM on Jacobi-scaled variables (boxes stay boxes under diagonal scaling). The
    # curvatures span 4 orders of magnitude (identity mode 0 vs 99, jawOpen vs
    # eyeLookIn), and a single scalar rho stalls on such problems.
    rho_i = rho_scale * np.diag(sys_.Hii)
    rho_e = rho_scale * (np.einsum("fii->fi", sys_.Hee) + sys_.band(2))
    free = ~np.isfinite(lbe) & ~np.isfinite(ube)
    rho_e = np.where(free, 0.0, rho_e)
    ab = sys_.banded_expression(rho_e)
    # Factorised in float64, then the solves run in float32: they read the (2 Ke + 1, F Ke) factor
    # once per triangular solve and are memory-bound, and LAPACK's single-precision band solve is
    # ~3.5x faster (d6: 8 -> 2.2 ms a solve, 0.83 -> 0.23 s for the Ki right-hand sides of Y). The
    # error this adds (~1e-6 relative) is far below the ADMM tolerance.
    cb = cholesky_banded(ab, lower=False, check_finite=False).astype(np.float32)
    Kei = np.ascontiguousarray(sys_.Hie.transpose(0, 2, 1), dtype=np.float32).reshape(F * Ke, Ki)  # (n, Ki)
    Y = cho_solve_banded((cb, False), Kei, check_finite=False)  # Kee^-1 Kei
    S = sys_.Hii + np.diag(rho_i) - (Kei.T @ Y).astype(np.float64)
    Sf = cho_factor(S, check_finite=False)

    def solve(ri: np.ndarray, re: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = cho_solve_banded((cb, False), re.astype(np.float32).ravel(), check_finite=False)
        di = cho_solve(Sf, ri - (Kei.T @ v).astype(np.float64), check_finite=False)
        de = v.astype(np.float64) - Y @ di.astype(np.float32)
        return di, de.reshape(F, Ke)

    zi = np.clip(np.zeros(Ki) if xi0 is None else xi0, lbi, ubi)
    ze = np.clip(np.zeros((F, Ke)) if xe0 is None else xe0, lbe, ube)
    ui, ue = (np.zeros(Ki), np.zeros((F, Ke))) if duals is None else (duals[0].copy(), duals[1].copy())
    relax = 1.6  # over-relaxation: the usual ADMM speed-up (Boyd et al. 2011, sec. 3.4.3)
    it = 0
    r_prim = r_dual = np.inf
    for it in range(1, max_iter + 1):
        xi, xe = solve(sys_.gi + rho_i * (zi - ui), sys_.ge + rho_e * (ze - ue))
        hi = relax * xi + (1 - relax) * zi
        he = relax * xe + (1 - relax) * ze
        zi_old, ze_old = zi, ze
        zi = np.clip(hi + ui, lbi, ubi)
        ze = np.clip(he + ue, lbe, ube)
        ze = np.where(free, xe, ze)
        ui = ui + hi - zi
        ue = np.where(free, 0.0, ue + he - ze)
        r_prim = max(np.abs(xi - zi).max(initial=0.0), np.abs(xe - ze).max(initial=0.0))
        r_dual = max(np.abs(zi - zi_old).max(initial=0.0), np.abs(ze - ze_old).max(initial=0.0))
        if r_prim < tol and r_dual < tol:
            break
    return zi, ze, dict(iterations=it, primal_residual=float(r_prim), dual_residual=float(r_dual), duals=(ui, ue))
