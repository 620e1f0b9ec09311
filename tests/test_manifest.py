from streamapp.manifest import clip_stem


def test_clip_files_are_named_by_rank_and_a_short_slug_of_the_title():
    assert clip_stem(1, "Why do some rooms feel so much happier than others?") == \
        "clip-01-why-do-some-rooms-feel-so-much-happier"
    assert clip_stem(2, "En utilisant son navigateur comme d'habitude, elle partage…") == \
        "clip-02-en-utilisant-son-navigateur-comme-d"
    assert clip_stem(12, "Goûts et café") == "clip-12-gouts-et-cafe"  # accents folded, not dropped
    assert clip_stem(3, "這兩天央視播出的") == "clip-03"  # no Latin letters: the rank alone
    assert clip_stem(4, "") == clip_stem(4, None) == "clip-04"
    assert len(clip_stem(1, "x" * 200)) == len("clip-01-") + 40  # one long word is cut, not dropped
