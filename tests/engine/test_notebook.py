"""grader/engine/notebook.py: Q3-Q5 functions taken from a 2019 notebook's code cells.

The student's cells come from seed 004 (a real CS231n 2019 submission, read at run time through
tests/seeds.py; the tests skip if the seed is absent).  The seed's rendering starts each notebook
after its set-up cells, which are the course's (the same for every student): the few the tests need
are below, in COURSE_CELLS.  ``build_notebook`` turns cells into .ipynb files; the unit tests check
the extraction rules on the parsed text (nothing from a notebook runs in this process), and the
end-to-end test grades a submission whose Q3-Q5 code lives only in those notebooks.
"""
import ast
import json
import zipfile
from pathlib import Path

from conftest import TEMPLATE, grade
from grader.engine import notebook
from grader.engine.staging import StagedFile, StageReport
from grader.questions import FILES
from seeds import seed004_cells

NOTEBOOKS = ("GANs-PyTorch", "NetworkVisualization-PyTorch", "StyleTransfer-PyTorch")

# The course's set-up cells of the 2019 notebooks (imports, constants, provided helpers), which come
# before the seed's first cell.  Notebook copies of provided helpers must never be used (the
# template's are); NOISE_DIM / batch_size / dtype are the notebook globals the student's code reads.
COURSE_CELLS = {
    "GANs-PyTorch": [
        "import torch\nimport torch.nn as nn\nfrom torch.nn import init\nimport torchvision\n"
        "import torchvision.transforms as T\nimport torch.optim as optim\nfrom torch.utils.data import DataLoader\n"
        "from torch.utils.data import sampler\nimport torchvision.datasets as dset\n\nimport numpy as np\n\n"
        "import matplotlib.pyplot as plt\nimport matplotlib.gridspec as gridspec\n\n%matplotlib inline\n"
        "plt.rcParams['figure.figsize'] = (10.0, 8.0) # set default size of plots\n\n"
        "def rel_error(x,y):\n    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))\n\n"
        "def count_params(model):\n    param_count = np.sum([np.prod(p.size()) for p in model.parameters()])\n"
        "    return param_count\n\nanswers = dict(np.load('gan-checks-tf.npz'))",
        "class ChunkSampler(sampler.Sampler):\n    def __init__(self, num_samples, start=0):\n"
        "        self.num_samples = num_samples\n        self.start = start\n\n    def __iter__(self):\n"
        "        return iter(range(self.start, self.start + self.num_samples))\n\n    def __len__(self):\n"
        "        return self.num_samples\n\nNUM_TRAIN = 50000\nNUM_VAL = 5000\n\nNOISE_DIM = 96\n"
        "batch_size = 128\n\nmnist_train = dset.MNIST('./cs231n/datasets/MNIST_data', train=True, download=True,\n"
        "                           transform=T.ToTensor())\n"
        "loader_train = DataLoader(mnist_train, batch_size=batch_size,\n"
        "                          sampler=ChunkSampler(NUM_TRAIN, 0))",
        "class Flatten(nn.Module):\n    def forward(self, x):\n        N, C, H, W = x.size() # read in N, C, H, W\n"
        "        return x.view(N, -1)\n\nclass Unflatten(nn.Module):\n"
        "    def __init__(self, N=-1, C=128, H=7, W=7):\n        super(Unflatten, self).__init__()\n"
        "        self.N = N\n        self.C = C\n        self.H = H\n        self.W = W\n"
        "    def forward(self, x):\n        return x.view(self.N, self.C, self.H, self.W)\n\n"
        "def initialize_weights(m):\n    if isinstance(m, nn.Linear) or isinstance(m, nn.ConvTranspose2d):\n"
        "        init.xavier_uniform_(m.weight.data)",
        "dtype = torch.FloatTensor\n# dtype = torch.cuda.FloatTensor ## UNCOMMENT THIS LINE IF YOU'RE ON A GPU!",
        "def bce_loss(input, target):\n    neg_abs = - input.abs()\n"
        "    loss = input.clamp(min=0) - input * target + (1 + neg_abs.exp()).log()\n    return loss.mean()",
    ],
    "NetworkVisualization-PyTorch": [
        "import torch\nfrom torch.autograd import Variable\nimport torchvision\nimport torchvision.transforms as T\n"
        "import random\n\nimport numpy as np\nfrom scipy.ndimage.filters import gaussian_filter1d\n"
        "import matplotlib.pyplot as plt\nfrom cs231n.image_utils import SQUEEZENET_MEAN, SQUEEZENET_STD\n"
        "from PIL import Image\n\n%matplotlib inline",
        "def preprocess(img, size=224):\n    transform = T.Compose([\n        T.Resize(size),\n        T.ToTensor(),\n"
        "        T.Normalize(mean=SQUEEZENET_MEAN.tolist(),\n                    std=SQUEEZENET_STD.tolist()),\n"
        "        T.Lambda(lambda x: x[None]),\n    ])\n    return transform(img)\n\n"
        "def deprocess(img, should_rescale=True):\n    transform = T.Compose([\n        T.Lambda(lambda x: x[0]),\n"
        "        T.ToPILImage(),\n    ])\n    return transform(img)\n\n"
        "def blur_image(X, sigma=1):\n    X_np = X.cpu().clone().numpy()\n"
        "    X_np = gaussian_filter1d(X_np, sigma, axis=2)\n    X_np = gaussian_filter1d(X_np, sigma, axis=3)\n"
        "    X.copy_(torch.Tensor(X_np).type_as(X))\n    return X",
        "from cs231n.data_utils import load_imagenet_val\nX, y, class_names = load_imagenet_val(num=5)",
        "def jitter(X, ox, oy):\n    if ox != 0:\n        left = X[:, :, :, :-ox]\n        right = X[:, :, :, -ox:]\n"
        "        X = torch.cat([right, left], dim=3)\n    if oy != 0:\n        top = X[:, :, :-oy]\n"
        "        bottom = X[:, :, -oy:]\n        X = torch.cat([bottom, top], dim=2)\n    return X",
    ],
    "StyleTransfer-PyTorch": [
        "import torch\nimport torch.nn as nn\nimport torchvision\nimport torchvision.transforms as T\nimport PIL\n\n"
        "import numpy as np\n\nfrom scipy.misc import imread\nfrom collections import namedtuple\n"
        "import matplotlib.pyplot as plt\n\nfrom cs231n.image_utils import SQUEEZENET_MEAN, SQUEEZENET_STD\n"
        "%matplotlib inline",
        "def rel_error(x,y):\n    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))\n\n"
        "def features_from_img(imgpath, imgsize):\n    img = preprocess(PIL.Image.open(imgpath), size=imgsize)\n"
        "    img_var = img.type(dtype)\n    return extract_features(img_var, cnn), img_var\n\n"
        "answers = dict(np.load('style-transfer-checks.npz'))",
        "dtype = torch.FloatTensor\n#dtype = torch.cuda.FloatTensor",
        "cnn = torchvision.models.squeezenet1_1(pretrained=True).features\ncnn.type(dtype)\n\n"
        "def extract_features(x, cnn):\n    features = []\n    prev_feat = x\n"
        "    for i, module in enumerate(cnn._modules.values()):\n        next_feat = module(prev_feat)\n"
        "        features.append(next_feat)\n        prev_feat = next_feat\n    return features",
    ],
}


def cells_of(name: str) -> list[str]:
    """The notebook's cells: the course's set-up cells, then the student's (seed 004)."""
    return COURSE_CELLS[name] + seed004_cells(name)


def build_notebook(cells: list[str], dest: Path, nbformat: int = 4) -> Path:
    """An .ipynb (nbformat 4, or 3) with a markdown cell and outputs around every code cell."""
    out = []
    for i, src in enumerate(cells):
        lines = src.split("\n")
        source = [line + "\n" for line in lines[:-1]] + [lines[-1]]
        out.append({"cell_type": "markdown", "metadata": {}, "source": [f"## Part {i}\n", "def not_code(): pass\n"]})
        code = {"cell_type": "code", "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["All tests passed!\n"]},
                            {"output_type": "display_data", "metadata": {},
                             "data": {"image/png": "iVBORw0KGgo" + "A" * 2000, "text/plain": ["<Figure>"]}}]}
        if nbformat == 4:
            code.update(execution_count=i + 1, source=source)
        else:
            code.update(prompt_number=i + 1, input=source, language="python")
        out.append(code)
    meta = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    nb = ({"cells": out, "metadata": meta, "nbformat": 4, "nbformat_minor": 2} if nbformat == 4 else
          {"worksheets": [{"cells": out, "metadata": {}}], "metadata": meta, "nbformat": 3, "nbformat_minor": 0})
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, indent=1))
    return dest


def _report(tmp: Path, present=()) -> StageReport:
    files = {k: StagedFile(k, f"x/{k}", "file") if k in present else StagedFile(k)
             for k in ("rnn_layers.py", "classifiers/rnn.py", "network_visualization.py", "style_transfer.py",
                       "gan_pytorch.py")}
    return StageReport(str(tmp / "stage"), files, [])


def _notebook_part(source: str) -> ast.Module:
    after = source.split("# " + "-" * 60 + " from the notebook", 1)[1]
    return ast.parse(after.split("\n", 1)[1])


# ------------------------------------------------------------------ reading
def test_code_cells_reads_nbformat_4_and_3_and_blanks_magics(tmp_path):
    cells = ["%matplotlib inline\nimport torch\n!pip install h5py\nx = 1", "%%bash\nls -la", "def f():\n    return 1"]
    for fmt in (4, 3):
        nb = build_notebook(cells, tmp_path / f"v{fmt}.ipynb", nbformat=fmt)
        got = notebook.code_cells(nb)
        assert got == ["\nimport torch\n\nx = 1", "def f():\n    return 1"], fmt  # markdown and %%bash left out
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert notebook.code_cells(tmp_path / "broken.ipynb") == []
    (tmp_path / "string.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": "y = 2\n"}]}))
    assert notebook.code_cells(tmp_path / "string.ipynb") == ["y = 2"]


# ------------------------------------------------------------------ extraction rules
def test_extract_keeps_imports_definitions_and_constants_only():
    template_src = (TEMPLATE / "deeplearning" / "gan_pytorch.py").read_text()
    cells = [
        "from __future__ import print_function\nimport torch\nimport matplotlib.pyplot as plt\n"
        "from cs231n.gan_pytorch import *\nimport some_missing_package as smp\n",
        "NOISE_DIM = 96\nbatch_size = 128\ndtype = torch.cuda.FloatTensor\ndevice = torch.device('cuda')\n"
        "MEAN = np.array([0.5, 0.5], dtype=np.float32)\nshape = (batch_size, NOISE_DIM)\nx, y = 1, 2\n",
        "answers = dict(np.load('gan-checks-tf.npz'))\nmnist = dset.MNIST('./data', download=True)\n"
        "D = discriminator().type(dtype)\nrun_a_gan(D, G, 1, 2, 3, 4)\nfor i in range(3):\n    print(i)\n"
        "plt.rcParams['figure.figsize'] = (10.0, 8.0)\nloss = bce_loss(torch.zeros(3), torch.ones(3))\n",
        "def bce_loss(input, target):\n    return 0\n\nclass Flatten(nn.Module):\n    pass\n",
        "def helper(x):\n    return 2 * x\n\n@torch.no_grad()\ndef sample_noise(batch_size, dim):\n"
        "    return helper(torch.rand(batch_size, dim)) - 1\n",
        "def discriminator():\n    return nn.Sequential(nn.Linear(784, 1))\nsample_noise?\n",  # does not parse whole
    ]
    body, info = notebook.extract(cells, "gan_pytorch.py", template_src)
    tree = ast.parse(body)
    kinds = {type(n).__name__ for n in tree.body}
    assert kinds <= {"Try", "FunctionDef", "ClassDef", "Assign"}, kinds
    assert "import torch" in body and "import some_missing_package as smp" in body
    for gone in ("matplotlib", "cs231n.gan_pytorch", "__future__", "np.load", "dset.MNIST", "run_a_gan(",
                 "discriminator().type", "for i in range", "rcParams", "loss = bce_loss", "return 0", "sample_noise?"):
        assert gone not in body, gone
    assert "dtype = torch.FloatTensor" in body and "torch.cuda" not in body
    assert "device = torch.device('cpu')" in body
    assert "MEAN = np.array" in body and "shape = (batch_size, NOISE_DIM)" in body
    assert "@torch.no_grad()\ndef sample_noise" in body and "def helper(x)" in body
    assert "def discriminator():" in body
    assert info["functions"] == ["sample_noise", "discriminator"]
    assert info["constants"] == ["NOISE_DIM", "batch_size", "dtype", "device", "MEAN", "shape", "x", "y"]
    assert info["kept_from_template"] == ["Flatten", "bce_loss"]


def test_extract_keeps_loss_modules_and_names_the_class_labels():
    """Probe round O: values the student's functions use, built in a cell: a torch.nn loss (`criterion =
    nn.BCEWithLogitsLoss()`: 1-5.5 points lost on "not defined"), and the course's `class_names` (loaded from
    data the grader does not have; numbered labels stand in).  A model or data built by a call stays out."""
    cells = ["import torch\nimport torch.nn as nn\n",
             "criterion = nn.BCEWithLogitsLoss()\nmse_sum = torch.nn.MSELoss(reduction='sum')\n"
             "model = torchvision.models.squeezenet1_1(pretrained=True)\nnet = nn.Linear(3, 4)\n",
             "X, y, class_names = load_imagenet_val(num=5)\n"]
    gan = (TEMPLATE / "deeplearning" / "gan_pytorch.py").read_text()
    body, info = notebook.extract(cells, "gan_pytorch.py", gan)
    assert "criterion = nn.BCEWithLogitsLoss()" in body and "mse_sum = torch.nn.MSELoss(reduction='sum')" in body
    for gone in ("squeezenet1_1", "nn.Linear(3, 4)", "class_names"):
        assert gone not in body, gone
    nv = (TEMPLATE / "deeplearning" / "network_visualization.py").read_text()
    body, info = notebook.extract(cells, "network_visualization.py", nv)
    names = {}
    exec(next(line for line in body.splitlines() if line.startswith("class_names =")), names)
    assert names["class_names"][999] == "class 999" and "load_imagenet_val" not in body
    assert "class_names" in info["constants"]


def test_a_provided_class_the_student_defines_again_is_theirs():
    """Probe round O: the course's Unflatten cell, then the student's own Unflatten(*shape) in a later cell, used
    by their DC networks: the course's replaced it and both networks failed (4 points).  The notebook's last
    definition is what the student's code ran with; a provided definition met once stays the course's."""
    gan = (TEMPLATE / "deeplearning" / "gan_pytorch.py").read_text()
    course = "class Unflatten(nn.Module):\n    def __init__(self, N=-1, C=128, H=7, W=7):\n        super().__init__()\n"
    theirs = "class Unflatten(nn.Module):\n    def __init__(self, *shape):\n        super().__init__()\n"
    body, info = notebook.extract(["import torch.nn as nn\n", course, theirs], "gan_pytorch.py", gan)
    assert info["own_versions"] == ["Unflatten"] and "Unflatten" not in info["kept_from_template"]
    assert "def __init__(self, *shape)" in body and "C=128" not in body
    body, info = notebook.extract(["import torch.nn as nn\n", course, course], "gan_pytorch.py", gan)
    assert info["own_versions"] == [] and "Unflatten" in info["kept_from_template"] and "C=128" not in body


def test_inline_class_visualization_step_becomes_a_function():
    template_src = (TEMPLATE / "deeplearning" / "network_visualization.py").read_text()
    body, info = notebook.extract(cells_of("NetworkVisualization-PyTorch"), "network_visualization.py", template_src)
    tree = ast.parse(body)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "update_class_visulization")
    assert [a.arg for a in fn.args.args] == ["model", "target_y", "l2_reg", "learning_rate", "img"]
    text = ast.unparse(fn)
    assert "grad = img.grad.data - 2 * l2_reg * img" in text and "img.data += learning_rate * grad" in text
    assert "jitter" not in text and "blur_image" not in text  # only the marked block
    assert not any(isinstance(n, ast.FunctionDef) and n.name == "create_class_visualization" for n in tree.body)
    assert info["step_from_inline"]
    # the notebook's own copies of provided helpers (course cells) are not used (the template's are)
    assert {"jitter", "blur_image", "preprocess", "deprocess", "create_class_visualization"} <= set(
        info["kept_from_template"])


NOTEBOOK_2017_CLASS_VIS = """def create_class_visualization(target_y, model, **kwargs):
    l2_reg = kwargs.pop('l2_reg', 1e-3)
    learning_rate = kwargs.pop('learning_rate', 25)
    num_iterations = kwargs.pop('num_iterations', 100)
    max_jitter = kwargs.pop('max_jitter', 16)
    img = torch.randn(1, 3, 224, 224).mul_(1.0).type(dtype)
    img_var = Variable(img, requires_grad=True)
    for t in range(num_iterations):
        ox, oy = random.randint(-max_jitter, max_jitter), random.randint(-max_jitter, max_jitter)
        img.copy_(jitter(img, ox, oy))
        score = model(img_var)[0, target_y]
        score.backward()
        img_var.data += learning_rate * img_var.grad.data{zero}
        img.copy_(jitter(img, -ox, -oy))
    return deprocess(img.cpu())
"""


def test_2017_inline_step_keeps_what_the_loop_made_across_steps():
    """2017-2018: the step written inside the loop, with `img_var` made once before it.  The notebook's loop
    keeps that img_var from step to step, so a gradient never zeroed adds up; the step function does too."""
    import torch
    template_src = (TEMPLATE / "deeplearning" / "network_visualization.py").read_text()
    moved = {}
    for zero in ("", "\n        img_var.grad.data.zero_()"):
        body, info = notebook.extract([NOTEBOOK_2017_CLASS_VIS.replace("{zero}", zero)], "network_visualization.py",
                                      template_src)
        assert info["step_from_inline"]
        ns = {"Variable": torch.autograd.Variable, "torch": torch}
        exec(compile(body, "network_visualization.py", "exec"), ns)  # this test's own text, not a student's
        w = torch.arange(12.0).reshape(1, 12)
        img = torch.zeros(1, 3, 2, 2)
        steps = []
        for _ in range(2):  # two steps on the same img, as the loop takes them
            before = img.clone()
            ns["update_class_visulization"](lambda x: x.reshape(1, -1) @ w.T, 0, 0.0, 1.0, img)
            steps.append(img - before)
        moved[bool(zero)] = steps
    assert torch.equal(moved[True][0], moved[True][1])            # zeroed: the same gradient step twice
    assert torch.equal(moved[False][1], 2 * moved[False][0])      # never zeroed: the gradients add up


# ------------------------------------------------------------------ staging
def test_fill_finds_notebooks_by_content_and_only_for_missing_files(tmp_path):
    sub = tmp_path / "sub"
    build_notebook(cells_of("GANs-PyTorch"), sub / "work" / "my homework (final).ipynb")
    build_notebook(cells_of("StyleTransfer-PyTorch"), sub / "part2.ipynb")
    build_notebook(cells_of("NetworkVisualization-PyTorch"), sub / "GANs-PyTorch.ipynb")  # misleading name
    build_notebook(["import numpy as np\ndef rnn_step_forward(x):\n    return x"], sub / "RNN_Captioning.ipynb")
    report = _report(tmp_path, present=("style_transfer.py",))
    pkg = tmp_path / "stage" / "deeplearning"
    notebook.fill_from_notebooks(report, sub, sorted(sub.rglob("*.ipynb")), pkg)
    gan, nv, st = (report.files[k] for k in ("gan_pytorch.py", "network_visualization.py", "style_transfer.py"))
    assert (gan.origin, gan.source) == ("notebook", "work/my homework (final).ipynb")
    assert (nv.origin, nv.source) == ("notebook", "GANs-PyTorch.ipynb")
    assert st.origin == "file" and not (pkg / "style_transfer.py").exists()  # a .py file always wins
    assert report.files["rnn_layers.py"].origin == "missing"
    assert gan.note.startswith("functions taken from the notebook's code cells: sample_noise, discriminator")
    assert "batch_size" in gan.note and "dtype" in gan.note and "bce_loss" in gan.note
    src = (pkg / "gan_pytorch.py").read_text()
    compile(src, "gan_pytorch.py", "exec")
    assert src.startswith("# deeplearning/gan_pytorch.py assembled by the autograder")
    part = _notebook_part(src)
    calls = [n for n in part.body if isinstance(n, ast.Expr)]
    assert not calls  # nothing is run: no run_a_gan(...), show_images(...), test_...()
    names = {n.name for n in part.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert set(FILES["gan_pytorch.py"].notebook_functions) <= names
    assert not names & {"bce_loss", "Flatten", "Unflatten", "ChunkSampler", "initialize_weights"}
    # constants are guarded (try: ... except Exception: pass) like the imports
    stmts = [m for n in part.body for m in (n.body if isinstance(n, ast.Try) else [n])]
    assigned = {t.id for n in stmts if isinstance(n, ast.Assign) for t in n.targets}
    assert {"NOISE_DIM", "batch_size", "dtype"} <= assigned
    assert not assigned & {"answers", "mnist_train", "loader_train", "D", "G", "D_solver", "fake_images", "data", "b"}


def test_a_second_notebook_with_the_work_is_named(tmp_path):
    """Probe round O: a stale GANs-PyTorch-Copy1.ipynb beside the real notebook was ignored without a word; which
    notebook counted is said, as for two copies of a .py file (the course's name wins the tie)."""
    sub = tmp_path / "sub"
    build_notebook(cells_of("GANs-PyTorch"), sub / "GANs-PyTorch-Copy1.ipynb")
    build_notebook(cells_of("GANs-PyTorch"), sub / "GANs-PyTorch.ipynb")
    report = _report(tmp_path, present=())
    notebook.fill_from_notebooks(report, sub, sorted(sub.rglob("*.ipynb")), tmp_path / "stage" / "deeplearning")
    assert report.files["gan_pytorch.py"].source == "GANs-PyTorch.ipynb"
    assert ("gan_pytorch.py: used the notebook GANs-PyTorch.ipynb; also found GANs-PyTorch-Copy1.ipynb, which "
            "implements its functions too (ignored)") in report.messages, report.messages


def test_notebook_without_the_functions_leaves_the_file_missing(tmp_path):
    sub = tmp_path / "sub"
    build_notebook(["import torch\nx = torch.zeros(3)\n"], sub / "scratch.ipynb")
    report = _report(tmp_path)
    notebook.fill_from_notebooks(report, sub, [sub / "scratch.ipynb"], tmp_path / "stage" / "deeplearning")
    assert all(f.origin == "missing" for f in report.files.values())


# ------------------------------------------------------------------ end to end
def test_submission_with_code_only_in_2019_notebooks_gets_full_marks(tmp_path):
    """collectSubmission-style zip: the three 2019 notebooks, no network_visualization.py /
    style_transfer.py / gan_pytorch.py.  Seed 004's solutions are correct, so Q3-Q5 score full marks
    (against the committed fixtures: tests/tools/test_generators.py proves they are current)."""
    folder = tmp_path / "assignment3"
    for name in NOTEBOOKS:
        build_notebook(cells_of(name), folder / f"{name}.ipynb")
    (folder / "cs231n").mkdir()
    (folder / "cs231n" / "__init__.py").write_text("")
    upload = tmp_path / "assignment3.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path).as_posix())
    g = grade(upload, rubric="cs231n_a3", questions="Q3,Q4,Q5")
    for t in g.results["tests"]:
        print(f"{t['name']}: {t['score']}/{t['max_score']}")
    assert not g.lost(), g.lost()
    assert {n.split(".")[0] for n in g.tests} == {"Q3", "Q4", "Q5"}
    q5 = [t for n, t in g.tests.items() if n.startswith("Q5.")]
    assert len(q5) == 13 and sum(t["score"] for t in q5) == 20
    out = g.results["output"]
    assert "gan_pytorch.py: taken from your notebook assignment3/GANs-PyTorch.ipynb" in out
    assert "network_visualization.py: taken from your notebook assignment3/NetworkVisualization-PyTorch.ipynb" in out
    assert "style_transfer.py: taken from your notebook assignment3/StyleTransfer-PyTorch.ipynb" in out


# ------------------------------------------------------------------ where an error is
def test_each_line_taken_from_a_notebook_maps_back_to_its_cell(tmp_path):
    """The staged file's line numbers mean nothing to a notebook's author: each definition taken from a cell
    records where it came from, and every one of its lines is that line of that code cell."""
    sub, report = tmp_path / "sub", _report(tmp_path)
    for name in NOTEBOOKS:
        build_notebook(cells_of(name), sub / f"{name}.ipynb")
    notebook.fill_from_notebooks(report, sub, sorted(sub.glob("*.ipynb")), tmp_path / "stage" / "deeplearning")
    checked = 0
    for staged_as in ("network_visualization.py", "style_transfer.py", "gan_pytorch.py"):
        sf = report.files[staged_as]
        assert sf.origin == "notebook" and sf.cell_map, (staged_as, sf)
        staged = (tmp_path / "stage" / "deeplearning" / staged_as).read_text().split("\n")
        cells = notebook.code_cells(sub / sf.source)
        for first, n, cell, cell_line in sf.cell_map:
            src = cells[cell - 1].split("\n")
            for k in range(n):
                assert staged[first - 1 + k] == src[cell_line - 1 + k], (staged_as, first + k, cell, cell_line + k)
                checked += 1
        # a frame of a traceback in that file names the cell and its line
        first, n, cell, cell_line = sf.cell_map[-1]
        tb = f'  File "{report.stage_dir}/deeplearning/{staged_as}", line {first + n - 1}, in f\n    x\n'
        assert f"[{sf.source}: code cell {cell}, line {cell_line + n - 1} of the cell]" in report.in_notebooks(tb)
        # the provided part (the template's lines) is not the notebook's
        tb = f'  File "{report.stage_dir}/deeplearning/{staged_as}", line 3, in f\n'
        assert report.in_notebooks(tb) == tb
    assert checked > 100


def test_a_notebook_error_says_which_cell_and_line(tmp_path):
    """End to end: a function that raises in a notebook is reported with its code cell and line."""
    cells = cells_of("StyleTransfer-PyTorch") + [
        "def tv_loss(img, tv_weight):\n    dh = img[:, :, 1:, :] - img[:, :, :-1, :]\n"
        "    raise RuntimeError('stopped here')\n"]
    build_notebook(cells, tmp_path / "sub" / "StyleTransfer-PyTorch.ipynb")
    g = grade(tmp_path / "sub", rubric="cs231n_a3", questions="Q4")
    tv = next(t for n, t in g.tests.items() if n.startswith("Q4.4 "))
    assert tv["score"] == 0 and "RuntimeError: stopped here" in tv["output"], tv["output"]
    assert f"[StyleTransfer-PyTorch.ipynb: code cell {len(cells)}, line 3 of the cell]" in tv["output"], tv["output"]


def test_a_notebook_part_only_a_newer_python_reads_is_a_syntax_error_everywhere(tmp_path):
    """As for .py files (grader/engine/grammar.py): a definition in a cell that only Python 3.12 reads is what
    Gradescope's Python 3.10 cannot read, on every machine; the rest of the notebook is still taken."""
    cells = ["import torch\n",
             "def tv_loss(img, tv_weight):\n    d = {\"w\": tv_weight}\n    print(f\"{d[\"w\"]}\")\n    return img.sum()\n",
             "def content_loss(content_weight, content_current, content_original):\n"
             "    return content_weight * ((content_current - content_original) ** 2).sum()\n"]
    tpl = (TEMPLATE / "deeplearning" / "style_transfer.py").read_text()
    body, info = notebook.extract(cells, "style_transfer.py", tpl, shown="StyleTransfer-PyTorch.ipynb")
    assert "content_loss" in info["functions"] and "tv_loss" not in info["functions"]
    assert info["syntax_errors"]["tv_loss"] == (
        2, 3, "an f-string that uses its own quote character inside {...} (Python 3.12+), which Gradescope's "
              "Python 3.10 cannot read"), info["syntax_errors"]
