"""Fusion of the dense and BM25 rankings (retrieval.fusion) and the config that chooses its weights."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.config import RetrievalConfig
from retrieval.fusion import Signals, fuse, minmax, rrf, tied_ranks


def signals(dense: dict[int, float], lexical: dict[int, float], cross: bool = False) -> Signals:
    return Signals(
        np.array(list(dense), np.int64),
        np.array(list(dense.values()), np.float32),
        np.array(list(lexical), np.int64),
        np.array(list(lexical.values()), np.float32),
        "es",
        cross,
    )


def test_minmax_scales_each_list_to_unit_range() -> None:
    assert minmax(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert minmax(np.array([0.7])).tolist() == [1.0]  # one candidate: all the list has
    assert minmax(np.array([])).tolist() == []


def test_minmax_fusion_keeps_a_clear_bm25_lead_that_rrf_gives_away() -> None:
    # BM25 puts chunk 1 far ahead of chunk 2; in dense, chunk 2 is first and chunk 1 third, a hair behind.
    s = signals(dense={2: 0.52, 3: 0.515, 1: 0.51, 4: 0.30, 5: 0.20}, lexical={1: 20.0, 2: 5.0, 3: 4.0})
    by_rrf = fuse(s, (0.5, 0.5), "rrf")
    assert max(by_rrf, key=by_rrf.__getitem__) == 2  # rank fusion: first + second beats third + first
    fused = fuse(s, (0.5, 0.5), "minmax")
    assert max(fused, key=fused.__getitem__) == 1
    assert fuse(s, (0.5, 0.5), "minmax", rank_bonus=0)[1] == pytest.approx(0.5 * (0.31 / 0.32) + 0.5 * 1.0, rel=1e-5)


def test_a_chunk_absent_from_one_list_scores_zero_there() -> None:
    fused = fuse(signals(dense={5: 0.9, 6: 0.1}, lexical={7: 3.0, 8: 1.0}), (0.5, 0.5), rank_bonus=0)
    assert fused == pytest.approx({5: 0.5, 6: 0.0, 7: 0.5, 8: 0.0})


def test_the_rank_term_breaks_near_ties_keeps_exact_ties_and_leaves_clear_wins() -> None:
    # Chunk 1 is a hair ahead of chunk 2 in both lists: the rank term widens that lead.
    near = signals(dense={1: 0.9, 2: 0.899, 3: 0.1}, lexical={1: 5.0, 2: 4.99, 3: 1.0})
    fused = fuse(near, (0.6, 0.4))
    assert (
        fused[1] - fused[2] > 0.15 > fuse(near, (0.6, 0.4), rank_bonus=0)[1] - fuse(near, (0.6, 0.4), rank_bonus=0)[2]
    )
    # First in both lists: 1 + 0.5 (the rank term's b).
    assert fused[1] == pytest.approx(1.5)
    # Exactly equal scores share the better rank, so the order they happen to be listed in decides nothing.
    tie = signals(dense={1: 0.9, 2: 0.9, 3: 0.1}, lexical={1: 5.0, 2: 5.0, 3: 1.0})
    assert fuse(tie, (0.6, 0.4))[1] == pytest.approx(fuse(tie, (0.6, 0.4))[2]) == pytest.approx(1.5)
    assert tied_ranks(np.array([5.0, 4.0, 4.0, 4.0, 1.0])).tolist() == [1, 2, 2, 2, 5]
    clear = signals(dense={1: 0.9, 2: 0.89, 3: 0.1}, lexical={2: 9.0, 1: 1.0, 3: 0.5})
    with_rank, without = fuse(clear, (0.6, 0.4)), fuse(clear, (0.6, 0.4), rank_bonus=0)
    assert max(with_rank, key=with_rank.__getitem__) == max(without, key=without.__getitem__) == 2
    # The old tie-breaker is the same formula with b = 0.02 * 60 / 61 and k = 60.
    old = fuse(clear, (0.6, 0.4), rank_bonus=0.02 * 60 / 61, rank_k=60)
    assert old[1] == pytest.approx(0.6 * (1 + 0.02 * 60 / 61) + 0.4 * (0.5 / 8.5 + 0.02 * 60 / 62), rel=1e-5)
    with pytest.raises(ValueError, match="fusion_rank_bonus"):
        RetrievalConfig(fusion_rank_bonus=-0.1)
    with pytest.raises(ValueError, match="fusion_rank_k"):
        RetrievalConfig(fusion_rank_k=-1)


def test_stored_configs_of_older_indexes_load() -> None:
    old_defaults = {
        "fusion": "minmax",
        "fusion_weights": {"en": [0.75, 0.25], "es": [0.4, 0.6], "cross": [0.2, 0.8]},
        "fusion_rank_bonus": 0.02,
        "rrf_k": 60,
        "chunk_max_chars": 700,
    }
    upgraded = RetrievalConfig.from_stored(old_defaults)  # yesterday's defaults: today's fusion, other knobs kept
    today = RetrievalConfig()
    assert upgraded.fusion_weights == today.fusion_weights and upgraded.chunk_max_chars == 700
    assert (upgraded.fusion_rank_bonus, upgraded.fusion_rank_k) == (today.fusion_rank_bonus, today.fusion_rank_k)
    custom = RetrievalConfig.from_stored({**old_defaults, "fusion_weights": {"en": [0.5, 0.5]}})
    assert custom.fusion_weights == {"en": [0.5, 0.5]}  # chosen by its owner: kept, with the rank term it had
    assert custom.fusion_rank_k == 60 and custom.fusion_rank_bonus == pytest.approx(0.02 * 60 / 61)
    s = signals(dense={1: 0.9, 2: 0.89, 3: 0.1}, lexical={2: 9.0, 1: 1.0, 3: 0.5})
    assert custom.fuse(s) == pytest.approx(fuse(s, (1.0, 1.0), rank_bonus=0.02 * 60 / 61, rank_k=60))
    assert RetrievalConfig.from_stored({}) == today
    # The student's cross-language pair of 2026-12-05 (0.4) is an old default too; a hand-set one is kept.
    assert RetrievalConfig.from_stored({"fusion_cross_bilingual": [0.4, 0.6]}) == today
    assert RetrievalConfig.from_stored({"fusion_cross_bilingual": [0.3, 0.7]}).fusion_cross_bilingual == [0.3, 0.7]


def test_zero_weight_reproduces_the_single_retriever_order() -> None:
    s = signals(dense={1: 0.9, 2: 0.8, 3: 0.7}, lexical={3: 9.0, 2: 4.0, 4: 1.0})
    only_lexical = fuse(s, (0.0, 1.0))
    # The rank bonus keeps even the list's last chunk (normalised score 0) above chunks the list does not hold.
    assert sorted((r for r in only_lexical if only_lexical[r] > 0), key=lambda r: -only_lexical[r]) == [3, 2, 4]
    only_dense = fuse(s, (1.0, 0.0))
    assert max(only_dense, key=only_dense.__getitem__) == 1


def test_rrf_method_matches_the_rrf_function() -> None:
    s = signals(dense={7: 0.9, 3: 0.8}, lexical={3: 2.0, 9: 1.0})
    assert fuse(s, (1.0, 0.5), "rrf", 60) == rrf([(s.dense_rows, 1.0), (s.lexical_rows, 0.5)], 60)


def test_unknown_method_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse(signals({1: 1.0}, {}), (1.0, 1.0), "borda")


def test_config_picks_weights_by_language_and_cross_language_index() -> None:
    config = RetrievalConfig(fusion_weights={"en": [0.7, 0.3], "es": [0.3, 0.7], "cross": [0.1, 0.9]})
    assert config.fusion_weights_for("en") == (0.7, 0.3)
    assert config.fusion_weights_for("en", cross=True) == (0.1, 0.9)
    # A bilingual student's dense ranking crosses languages: its own cross pair; on a bilingual index nothing changes.
    assert config.fusion_weights_for("en", cross=True, bilingual=True) == tuple(config.fusion_cross_bilingual)
    assert config.fusion_weights_for("en", cross=False, bilingual=True) == (0.7, 0.3)
    with pytest.raises(ValueError, match="bilingual"):
        RetrievalConfig(fusion_cross_bilingual=[-1.0, 1.0])
    assert config.fusion_weights_for("fr") == (config.dense_weight, config.lexical_weight)
    assert RetrievalConfig(fusion="rrf").fusion_weights_for("es") == RetrievalConfig().weights_for("es")
    with pytest.raises(ValueError, match="fusion must be"):
        RetrievalConfig(fusion="borda")
    with pytest.raises(ValueError, match="must be \\[dense, lexical\\]"):
        RetrievalConfig(fusion_weights={"en": [0.0, 0.0]})


def test_the_title_list_is_a_third_list_weighted_from_the_dense_one() -> None:
    s = signals(dense={1: 0.9, 2: 0.5}, lexical={1: 3.0, 3: 2.0})
    s.title_rows, s.title_scores = np.array([3, 2], np.int64), np.array([0.8, 0.4], np.float32)
    before = fuse(s, (0.6, 0.4))
    assert fuse(s, (0.6, 0.4), title_weight=0.0) == before
    after = fuse(s, (0.6, 0.4), title_weight=0.5)
    # the title list's first row gets weight 0.5 * 0.6 times (1 + rank bonus), its second the rank term only
    assert after[3] - before[3] == pytest.approx(0.3 * (1.0 + 0.5), rel=1e-5)
    assert after[2] - before[2] == pytest.approx(0.3 * (0.0 + 0.5 * 2 / 3), rel=1e-5)
    assert after[1] == pytest.approx(before[1])
    assert set(fuse(s, (0.6, 0.4), "rrf", 60, title_weight=0.5)) == {1, 2, 3}
    assert RetrievalConfig().fuse(s) == pytest.approx(fuse(s, (0.35, 0.65), title_weight=0.3))
    with pytest.raises(ValueError, match="fusion_title_weight"):
        RetrievalConfig(fusion_title_weight=-1)


def test_the_foreign_list_counts_only_its_kept_rows_ranked_among_all_of_them() -> None:
    s = signals(dense={1: 0.9, 2: 0.5}, lexical={1: 3.0, 3: 2.0})
    # USE ranks row 1 (has a version in the query's language) first and row 4 (untranslated) second
    s.foreign_rows, s.foreign_scores = np.array([1, 4, 5], np.int64), np.array([0.9, 0.7, 0.4], np.float32)
    s.foreign_keep = np.array([False, True, True])
    before = fuse(s, (0.6, 0.4))
    after = fuse(s, (0.6, 0.4), foreign_weight=1.0)
    assert after[1] == pytest.approx(before[1]) and 4 not in before
    # row 4 is normalised and ranked among the whole list: (0.7 - 0.4) / 0.5, second place's rank term
    assert after[4] == pytest.approx(0.6 * (0.6 + 0.5 * 2 / 3), rel=1e-5)
    assert after[5] == pytest.approx(0.6 * (0.0 + 0.5 * 2 / 4), rel=1e-5)
    rrf = fuse(s, (0.6, 0.4), "rrf", 60, foreign_weight=1.0)
    assert rrf[4] == pytest.approx(0.6 / 62) and rrf[1] == pytest.approx(fuse(s, (0.6, 0.4), "rrf", 60)[1])
    # the titles by USE likewise, at the title list's share of the foreign weight
    s.foreign_title_rows, s.foreign_title_scores = np.array([6, 4], np.int64), np.array([0.8, 0.6], np.float32)
    s.foreign_title_keep = np.array([False, True])
    titled = fuse(s, (0.6, 0.4), title_weight=0.5, foreign_weight=1.0)
    assert titled[4] == pytest.approx(after[4] + 0.3 * (0.0 + 0.5 * 2 / 3), rel=1e-5) and 6 not in titled
    with pytest.raises(ValueError, match="fusion_foreign_weight"):
        RetrievalConfig(fusion_foreign_weight=5)
