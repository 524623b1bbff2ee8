"""Chapter 2, robustness: the fidelity checks of LAB_SPECS.md §2, read from the results
file the walkthrough wrote (tiny profile; see conftest.py)."""

import pytest

pytestmark = pytest.mark.slow

ADVERSARIAL = "adversarial (20 px + FGSM)"


def test_adversarial_accuracy_is_far_below_clean_for_a_standard_model(results):
    standard = results["accuracy"]["standard"]
    assert standard["clean"] > 0.6, (
        f"the standard model should learn the task: expected clean > 0.6, got {standard}")
    assert standard[ADVERSARIAL] < standard["clean"] - 0.3, (
        f"expected the adversarial set 30+ points below clean, got {standard}")
    assert standard["PGD"] < standard["clean"] / 3, (
        f"expected PGD accuracy below a third of clean, got {standard}")


def test_adversarial_training_buys_robustness_at_a_small_clean_cost(results):
    standard = results["accuracy"]["standard"]
    robust = results["accuracy"]["adversarially trained"]
    for attack in (ADVERSARIAL, "PGD"):
        assert robust[attack] > standard[attack] + 0.2, (
            f"{attack}: expected adversarial training to gain 20+ points, got "
            f"{standard[attack]:.3f} → {robust[attack]:.3f}")
    assert standard["clean"] - robust["clean"] < 0.2, (
        f"expected a clean-accuracy cost under 20 points, got "
        f"{standard['clean']:.3f} → {robust['clean']:.3f}")


def test_pgd_is_at_least_as_strong_as_fgsm(results):
    for model, scores in results["accuracy"].items():
        assert scores["PGD"] <= scores["FGSM"] + 0.01, (
            f"{model}: expected PGD accuracy <= FGSM's (+0.01), got PGD {scores['PGD']:.3f}, "
            f"FGSM {scores['FGSM']:.3f}")


def test_transfer_attack_is_weaker_than_white_box_but_above_chance(results):
    transfer, standard = results["transfer"], results["accuracy"]["standard"]
    assert standard["PGD"] + 0.1 < transfer["target_accuracy"], (
        f"expected transfer 10+ points weaker than white box: white box "
        f"{standard['PGD']:.3f}, transfer {transfer['target_accuracy']:.3f}")
    assert transfer["target_accuracy"] < transfer["noise_accuracy"] - 0.02, (
        f"expected transfer 2+ points more harmful than noise: {transfer}")
    assert transfer["target_accuracy"] > 0.2, (
        f"expected accuracy under transfer well above chance (10 %): {transfer}")


def test_circle_loss_alone_does_not_buy_robustness(results):
    circle = results["accuracy"]["circle loss + k-NN"]
    robust = results["accuracy"]["adversarially trained"]
    assert circle["clean"] > 0.5, f"expected circle loss + k-NN clean > 0.5, got {circle}"
    assert circle[ADVERSARIAL] < circle["clean"] - 0.3, (
        f"expected the adversarial set 30+ points below clean, got {circle}")
    assert circle[ADVERSARIAL] < robust[ADVERSARIAL] - 0.2, (
        f"expected circle loss 20+ points below adversarial training on the adversarial "
        f"set, got {circle[ADVERSARIAL]:.3f} vs {robust[ADVERSARIAL]:.3f}")


def test_robust_accuracy_falls_with_epsilon(results):
    curves = results["curves"]
    for name in ("standard", "adversarially trained"):
        assert all(a >= b - 0.02 for a, b in zip(curves[name], curves[name][1:])), (
            f"{name}: expected accuracy to fall (within 0.02) as ε grows, got {curves[name]}")
    assert curves["standard"][-1] < 0.1, (
        f"expected the standard model below 10 % at 2ε, got {curves['standard'][-1]:.3f}")


def test_transfer_attack_costs_only_a_few_points_more_than_noise(results):
    """book/robustness/index.md says so; update the page if this changes."""
    transfer = results["transfer"]
    extra = transfer["noise_accuracy"] - transfer["target_accuracy"]
    assert 0 < extra <= 0.10, (
        f"expected the transfer attack 0-10 points more harmful than random ±ε noise, "
        f"got noise {transfer['noise_accuracy']:.3f} vs transfer "
        f"{transfer['target_accuracy']:.3f}")


def test_trades_buys_robustness_with_clean_accuracy(results):
    """Issue 19: every TRADES model (one per β of the profile) is at least as robust
    under PGD as the standard model and at most as accurate on clean images."""
    standard = results["accuracy"]["standard"]
    names = results["trades"]["models"]
    assert names, f"expected TRADES models in the results, got {results['trades']}"
    for name in names:
        trades = results["accuracy"][name]
        assert trades["PGD"] >= standard["PGD"], (
            f"{name}: expected PGD accuracy at least the standard model's "
            f"{standard['PGD']:.3f}, got {trades['PGD']:.3f}")
        assert trades["clean"] <= standard["clean"], (
            f"{name}: expected clean accuracy at most the standard model's "
            f"{standard['clean']:.3f}, got {trades['clean']:.3f}")


def test_every_trained_model_has_per_epoch_accuracies(results):
    """The training-curves figure: training (NaN without logits), clean validation and
    PGD validation accuracy for each epoch of every trained model."""
    epochs = results["epochs"]
    assert {"standard", "adversarially trained", "circle loss", *results["trades"]["models"]} \
        <= set(epochs), f"expected every trained model's curves, got {sorted(epochs)}"
    for name, series in epochs.items():
        lengths = {key: len(values) for key, values in series.items()}
        assert len(set(lengths.values())) == 1 and lengths["val_pgd_acc"] > 0, (
            f"{name}: expected one value per epoch in every series, got {lengths}")
