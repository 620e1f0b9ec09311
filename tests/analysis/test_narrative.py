import numpy as np

from streamapp.analysis.narrative import key_sentence, sentence_traits, title, traits


def test_dangling_openings_are_flagged():
    for text in ("And so he went home.", "But that was later.", "He said no.", "That one was better.",
                 "So we left."):
        assert traits(text).dangling, text
    for text in ("Rivers start in the mountains.", "Here is the mistake.", "Why do rivers flood?"):
        assert not traits(text).dangling, text


def test_hooks_of_each_kind():
    assert traits("Why do rivers flood every spring?").hook_kind == "question"
    assert traits("Three ways to fall asleep faster.").hook_kind == "number"
    assert traits("Here is the mistake most people make.").hook_kind == "claim"
    assert traits("You need to hear this.").hook_kind == "direct address"
    assert traits("The river is long.").hook == 0.0


def test_payoffs_conclude_and_open_questions_do_not():
    assert traits("So the lesson is simple: plant trees.").payoff_kind == "conclusion"
    assert traits("Try moving ten percent on payday.").payoff_kind == "tip"
    assert traits("What happens next?").payoff < traits("The river is long.").payoff < 90


def test_other_scripts_get_the_neutral_value():
    t = traits("Мы создадим праздничное настроение.")
    assert (t.hook, t.payoff, t.dangling) == (50.0, 50.0, False)


def test_title_is_trimmed_at_a_word_and_capitalised():
    t = title("here is the mistake most people make when they start saving money for retirement early.")
    assert len(t) <= 61 and t.endswith("\u2026") and t.startswith("Here is the mistake")
    assert title("short one.") == "Short one"
    # Full-width characters take two columns: a Chinese title holds half as many characters.
    zh = title("這兩天央視播出的有關掃黑除惡的政論大片披露了不少案件的細節，引起了很多觀眾的關注。")
    assert zh.endswith("\u2026") and len(zh) <= 31 and zh.startswith("這兩天")
    assert title("短い文。") == "短い文"


def test_key_sentence_prefers_an_opening_hook():
    sentences = [{"text": "Why do rivers flood?"}, {"text": "The ground is frozen."}, {"text": "Water runs off."}]
    assert key_sentence(sentences, 0, 2, None, sentence_traits(sentences)) == 0
    plain = [{"text": "Okay."}, {"text": "The ground is frozen in spring, so water runs off."}, {"text": "Yes."}]
    assert key_sentence(plain, 0, 2, None, sentence_traits(plain)) == 1


def test_a_word_split_off_as_a_sentence_does_not_title_the_clip():
    """Whisper gave "future." as a zero-length word after a pause, a sentence of its own; its vector was the
    nearest to the clip's, and the clip was titled "Future"."""
    sentences = [{"text": "future."}, {"text": "Constant attack."},
                 {"text": "By politicians who have no medical education or background."}]
    vectors = np.array([[1.0, 1.0], [1.0, 0.0], [0.2, 1.0]])  # the lone word is nearest the centre of the three
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert key_sentence(sentences, 0, 2, vectors, sentence_traits(sentences)) == 2
    assert key_sentence(sentences, 0, 0, vectors, sentence_traits(sentences)) == 0  # alone, it is all there is
    cjk = [{"text": "好。"}, {"text": "比如廣州關注"}]  # six characters: twelve columns
    assert key_sentence(cjk, 0, 1, None, sentence_traits(cjk)) == 1
