"""NumPy transcriptions of Keras 3's optimizers (keras/src/optimizers/*.py and
BaseOptimizer's clipping and weight decay), written from Keras's source for
the tests -- independent of ccnn.

reference(kind, params, grads_seq, **kwargs) runs len(grads_seq) steps of the
optimizer `kind` ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta",
"adamax", "nadam") from copies of `params` (in float64) and returns them.
kwargs are the Keras constructor arguments (learning_rate, ..., weight_decay,
clipnorm, clipvalue, global_clipnorm) with Keras's defaults.
"""
import numpy as np

DEFAULTS = {
    "sgd": dict(learning_rate=0.01, momentum=0.0, nesterov=False),
    "adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "adamw": dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                  epsilon=1e-7, amsgrad=False),
    "rmsprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
    "adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
    "adadelta": dict(learning_rate=0.001, rho=0.95, epsilon=1e-7),
    "adamax": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "nadam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
}
BASE = dict(weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None)


def clip_gradients(grads, clipnorm, clipvalue, global_clipnorm):
    """BaseOptimizer._clip_gradients."""
    if clipnorm and clipnorm > 0:
        out = []
        for g in grads:  # _clip_by_norm
            l2sum = np.sum(np.square(g))
            l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
            out.append(g * clipnorm / np.maximum(l2norm, clipnorm))
        return out
    if global_clipnorm and global_clipnorm > 0:  # clip_by_global_norm
        norm = np.sqrt(sum(np.sum(np.square(g)) for g in grads))
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = global_clipnorm * np.minimum(1.0 / norm, 1.0 / global_clipnorm)
        scale = scale + (norm - norm)
        return [g * scale for g in grads]
    if clipvalue and clipvalue > 0:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def _state(kind, p, hp):
    z = np.zeros_like(p)
    if kind == "sgd":
        return {"m": z.copy()}
    if kind in ("adam", "adamw"):
        return {"m": z.copy(), "v": z.copy(), "vhat": z.copy()}
    if kind == "rmsprop":
        return {"velocity": z.copy(), "momentum": z.copy(), "avg": z.copy()}
    if kind == "adagrad":
        return {"acc": np.full_like(p, hp["initial_accumulator_value"])}
    if kind == "adadelta":
        return {"ag": z.copy(), "ad": z.copy()}
    if kind in ("adamax", "nadam"):
        return {"m": z.copy(), "u": z.copy(), "v": z.copy()}
    raise ValueError(kind)


def _update(kind, var, g, s, lr, it, hp, glob):
    """One update_step of Keras's `kind` on var (returned); it = iterations
    before this step; glob holds Nadam's u_product."""
    if kind == "sgd":
        mom = hp["momentum"]
        if mom != 0:
            s["m"] = s["m"] * mom - g * lr
            if hp["nesterov"]:
                return var + (s["m"] * mom - g * lr)
            return var + s["m"]
        return var - g * lr
    if kind in ("adam", "adamw"):
        b1, b2 = hp["beta_1"], hp["beta_2"]
        step = it + 1
        alpha = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
        s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
        s["v"] = s["v"] + (np.square(g) - s["v"]) * (1 - b2)
        v = s["v"]
        if hp["amsgrad"]:
            s["vhat"] = np.maximum(s["vhat"], s["v"])
            v = s["vhat"]
        return var - (s["m"] * alpha) / (np.sqrt(v) + hp["epsilon"])
    if kind == "rmsprop":
        rho = hp["rho"]
        s["velocity"] = rho * s["velocity"] + (1 - rho) * np.square(g)
        if hp["centered"]:
            s["avg"] = rho * s["avg"] + (1 - rho) * g
            den = s["velocity"] - np.square(s["avg"]) + hp["epsilon"]
        else:
            den = s["velocity"] + hp["epsilon"]
        inc = (lr * g) / np.sqrt(den)
        if hp["momentum"] > 0:
            s["momentum"] = hp["momentum"] * s["momentum"] + inc
            return var - s["momentum"]
        return var - inc
    if kind == "adagrad":
        s["acc"] = s["acc"] + np.square(g)
        return var - (lr * g) / np.sqrt(s["acc"] + hp["epsilon"])
    if kind == "adadelta":
        rho, eps = hp["rho"], hp["epsilon"]
        s["ag"] = rho * s["ag"] + (1 - rho) * np.square(g)
        delta = -((np.sqrt(s["ad"] + eps) * g) / np.sqrt(s["ag"] + eps))
        s["ad"] = rho * s["ad"] + (1 - rho) * np.square(delta)
        return var + lr * delta
    if kind == "adamax":
        b1, b2 = hp["beta_1"], hp["beta_2"]
        b1p = b1 ** (it + 1)
        s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
        s["u"] = np.maximum(b2 * s["u"], np.abs(g))
        return var - (lr * s["m"]) / ((1 - b1p) * (s["u"] + hp["epsilon"]))
    if kind == "nadam":
        b1, b2 = hp["beta_1"], hp["beta_2"]
        u_t = b1 * (1.0 - 0.5 * 0.96 ** (it + 1))
        u_t_1 = b1 * (1.0 - 0.5 * 0.96 ** (it + 2))
        u_product_t = glob["u_product"]           # already multiplied by u_t this step
        u_product_t_1 = u_product_t * u_t_1
        s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
        s["v"] = s["v"] + (np.square(g) - s["v"]) * (1 - b2)
        m_hat = (u_t_1 * s["m"]) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
        v_hat = s["v"] / (1 - b2 ** (it + 1))
        return var - (m_hat * lr) / (np.sqrt(v_hat) + hp["epsilon"])
    raise ValueError(kind)


def reference(kind, params, grads_seq, lr_schedule=None, **kwargs):
    """Params (float64 copies) after len(grads_seq) Keras steps.  lr_schedule:
    optional callable iterations -> learning rate (overrides learning_rate)."""
    hp = {**BASE, **DEFAULTS[kind], **kwargs}
    if kind == "adamw" and hp["weight_decay"] is None:
        raise ValueError("adamw needs weight_decay")
    params = [np.array(p, dtype=np.float64) for p in params]
    states = [_state(kind, p, hp) for p in params]
    glob = {"u_product": 1.0}
    for it, grads in enumerate(grads_seq):
        lr = lr_schedule(it) if lr_schedule else hp["learning_rate"]
        grads = clip_gradients([np.asarray(g, dtype=np.float64) for g in grads],
                               hp["clipnorm"], hp["clipvalue"], hp["global_clipnorm"])
        if hp["weight_decay"] is not None:           # _apply_weight_decay
            params = [p - p * hp["weight_decay"] * lr for p in params]
        if kind == "nadam":                          # Nadam._backend_update_step
            glob["u_product"] *= hp["beta_1"] * (1.0 - 0.5 * 0.96 ** (it + 1))
        params = [_update(kind, p, g, s, lr, it, hp, glob)
                  for p, g, s in zip(params, grads, states)]
    return params
