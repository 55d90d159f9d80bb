"""
Numerical gradients by centered finite differences, used to check the
analytic gradients of the layers and models.
"""
import numpy as np


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """
    Numerical gradient of a scalar-valued function at x.

    Inputs:
    - f: Function taking one argument (x itself; it may also ignore its
      argument and read x through a closure, since x is changed in place)
      and returning a scalar
    - x: Array at which the gradient is evaluated; each element is nudged in
      place by +h and -h and then put back, so x is unchanged on return
    - verbose: If True, print the index and value of each gradient entry
    - h: Step size of the finite difference

    Returns:
    - grad: Array of the same shape as x with (f(x + h) - f(x - h)) / (2h)
      for every element
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        saved = x[ix]
        x[ix] = saved + h
        f_plus = f(x)
        x[ix] = saved - h
        f_minus = f(x)
        x[ix] = saved
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """
    Numerical gradient for a function with array output, contracted with an
    upstream gradient: the result approximates d(sum(f(x) * df)) / dx.

    Inputs:
    - f: Function of x returning an array (x is changed in place, as above)
    - x: Array at which the gradient is evaluated; restored on return
    - df: Upstream gradient, of the same shape as f(x)
    - h: Step size of the finite difference

    Returns:
    - grad: Array of the same shape as x
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        saved = x[ix]
        x[ix] = saved + h
        out_plus = np.array(f(x), copy=True)
        x[ix] = saved - h
        out_minus = np.array(f(x), copy=True)
        x[ix] = saved
        grad[ix] = np.sum((out_plus - out_minus) * df) / (2 * h)
    return grad


def rel_error(x, y):
    """Largest elementwise relative error |x - y| / max(1e-8, |x| + |y|)."""
    x = np.asarray(x)
    y = np.asarray(y)
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))
