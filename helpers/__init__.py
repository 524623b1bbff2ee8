"""Helpers for the Trustworthy-AI course kit: the plumbing behind every notebook.

Core modules (any chapter may use them; they never import a chapter module):

- ``checks``    argument checks with messages that name the argument
- ``profiles``  the one table of tiny / quick / full settings
- ``paths``     data and output directories, results files
- ``data``      dataset registry: real loaders and embedded stand-ins, same API;
                ``data.downloads`` fetches and verifies the real files
- ``models``    small CNN, CIFAR-style ResNet-18, torchvision ResNet-18, and the model
                internals: layers by name, hooks that remove themselves (``capture``),
                the state guard, the one batched-inference loop (``logits``)
- ``train``     seeding, the one training loop ``fit`` (custom steps, checkpoints),
                evaluation
- ``attacks``   adversarial attacks: FGSM, PGD/BIM, DeepFool, JSMA, transfer
- ``losses``    losses written out for teaching (label smoothing, circle loss)
- ``plots``     training curves, image grids, comparison bars

Chapter modules, each chapter's figures in its own ``<chapter>_plots`` module:
``generalization``; ``robustness`` (``robustness_plots``); ``fairness`` with ``debiasing``
(``fairness_plots``; the UCI Adult table: ``data.load("adult")``); ``backdoor`` with
``backdoor_detect`` and ``backdoor_adaptive`` (``backdoor_plots``); ``ood`` (``ood_plots``);
``sparsity`` with ``regularization``, ``attribution``, ``lime`` and ``faithfulness``
(deletion/insertion curves, run-to-run agreement; ``sparsity_plots``); ``causal``
with ``concepts`` (``causal_plots``; Fashion-MNIST in ``data.fashion``); ``stealing``
with ``query_attacks`` (``stealing_plots``). The results page's table (sources beside
the kit's numbers): ``summary``. Instructor tools: ``grading``.
"""

#: The chapters, in reading order: the folder names under book/, solutions/ and labs/,
#: the nbgrader assignment ids and the output folders.
CHAPTERS = ("generalization", "robustness", "fairness", "backdoor", "ood", "sparsity", "causal",
            "stealing")
