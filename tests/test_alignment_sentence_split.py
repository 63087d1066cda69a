"""Tests for alignment.sentence_split: abbreviations, initials, ordinals, quotes, CJK stops, offsets."""

from alignment.sentence_split import split_sentences, split_texts


def test_english_abbreviations_and_initials_do_not_split():
    text = "Mr. J. K. Smith met Dr. Jones in the U.S. Army camp. They left on Nov. 6. It rained."
    assert split_texts(text, "en") == ["Mr. J. K. Smith met Dr. Jones in the U.S. Army camp.", "They left on Nov. 6.",
                                       "It rained."]


def test_month_abbreviation_ends_a_sentence_without_a_day():
    expected = ["Votes are cast on Nov.", "What time is it?"]
    assert split_texts("Votes are cast on Nov. What time is it?", "en") == expected


def test_german_ordinals_abbreviations_and_closing_quotes():
    text = "Er sagte: „Das ist gut.“ Am 3. Oktober kam Dr. Müller, z.B. mit Hr. Weber. Dann ging er."
    assert split_texts(text, "de") == ["Er sagte: „Das ist gut.“", "Am 3. Oktober kam Dr. Müller, z.B. mit Hr. Weber.",
                                       "Dann ging er."]
    text = "Im [21.] Jahrhundert, wie z. B. heute, kam er im Jahr 2019. Danach ging er."
    assert split_texts(text, "de") == ["Im [21.] Jahrhundert, wie z. B. heute, kam er im Jahr 2019.", "Danach ging er."]


def test_quote_then_lowercase_continues_the_sentence():
    assert split_texts('"Hello!" she said. "Bye."', "en") == ['"Hello!" she said.', '"Bye."']


def test_french_guillemets_and_spanish_inverted_marks():
    assert split_texts("« C’est bien. » Il est parti.", "fr") == ["« C’est bien. »", "Il est parti."]
    assert split_texts("Hola, Sra. Pérez. ¿Cómo está? ¡Muy bien!", "es") == ["Hola, Sra. Pérez.", "¿Cómo está?",
                                                                           "¡Muy bien!"]


def test_cjk_full_stops_split_without_spaces():
    expected = ["他说：“你好。”", "然后离开了！", "真的吗？", "是的"]
    assert split_texts("他说：“你好。”然后离开了！真的吗？是的", "zh") == expected
    expected = ["“我正好要到。”", "他说。", '"好的。"', "我说。", '"不"']
    assert split_texts('“我正好要到。”他说。"好的。"我说。"不"', "zh") == expected  # openers start the next one
    assert split_texts("今日は晴れです。明日は雨でしょう。", "ja") == ["今日は晴れです。", "明日は雨でしょう。"]


def test_no_split_without_space_after_a_latin_stop():
    assert split_texts("Version 3.5 is out. See www.example.com now.", "en") == ["Version 3.5 is out.",
                                                                                "See www.example.com now."]


def test_line_breaks_are_boundaries_and_offsets_point_into_the_text():
    text = "  Headline without stop\nFirst sentence. Second one.\n\n"
    spans = split_sentences(text, "en")
    assert [s.text for s in spans] == ["Headline without stop", "First sentence.", "Second one."]
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_empty_text_has_no_sentences():
    assert split_sentences("   \n ", "en") == []
