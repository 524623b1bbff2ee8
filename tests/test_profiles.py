import pytest

from helpers.profiles import PROFILES, get_profile


def test_every_profile_has_the_same_settings():
    keys = [set(settings) for settings in PROFILES.values()]
    assert all(k == keys[0] for k in keys)
    assert list(PROFILES) == ["tiny", "quick", "full"]


def test_attribute_access_and_chapter_settings():
    tiny = get_profile("tiny")
    assert tiny.name == "tiny"
    assert tiny.data_source == "standin"  # CI and the default book never touch the network
    assert tiny.generalization.finetune_size > 0


def test_environment_variable_overrides_the_notebook(monkeypatch):
    monkeypatch.setenv("TAI_PROFILE", "quick")
    assert get_profile("tiny").name == "quick"


@pytest.mark.parametrize("name", ["huge", "", "Tiny"])
def test_unknown_profile_names_the_choices(name):
    with pytest.raises(ValueError, match="tiny, quick, full"):
        get_profile(name)


def test_unknown_profile_in_environment_is_named(monkeypatch):
    monkeypatch.setenv("TAI_PROFILE", "gpu")
    with pytest.raises(ValueError, match=r"\$TAI_PROFILE='gpu'"):
        get_profile("tiny")
