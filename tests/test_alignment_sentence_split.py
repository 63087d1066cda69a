"""Tests for alignment.sentence.split: abbreviations, initials, ordinals, quotes, CJK stops, offsets."""

from alignment.sentence.split import split_sentences, split_texts


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


def test_hindi_danda_ends_a_sentence():
    text = "नई दिल्ली भारत की राजधानी है। यह एक बड़ा शहर है॥ डॉ. शर्मा यहाँ रहते हैं।"
    assert split_texts(text, "hi") == ["नई दिल्ली भारत की राजधानी है।", "यह एक बड़ा शहर है॥", "डॉ. शर्मा यहाँ रहते हैं।"]


def test_arabic_question_mark_and_full_stop():
    text = "هل القاهرة عاصمة مصر؟ نعم، هي العاصمة. والإسكندرية مدينة كبيرة."
    assert split_texts(text, "ar") == ["هل القاهرة عاصمة مصر؟", "نعم، هي العاصمة.", "والإسكندرية مدينة كبيرة."]


def test_greek_semicolon_is_a_question_mark():
    # U+037E (Greek question mark) and ";" are one character after NFC; both end a Greek question
    text = "Ποια είναι η πρωτεύουσα; Η Αθήνα. Πού είναι η Θεσσαλονίκη\u037e Στον βορρά."
    assert split_texts(text, "el") == ["Ποια είναι η πρωτεύουσα;", "Η Αθήνα.", "Πού είναι η Θεσσαλονίκη\u037e",
                                       "Στον βορρά."]
    assert split_texts("Kenya has two seasons; The long rains come first.", "en") == [
        "Kenya has two seasons; The long rains come first."]  # a semicolon elsewhere


def test_cyrillic_and_greek_initials_and_abbreviations_do_not_split():
    assert split_texts("Галерея Т.Т. Цуя открылась (см. Список) в 1991 году. Потом её закрыли.", "ru") == [
        "Галерея Т.Т. Цуя открылась (см. Список) в 1991 году.", "Потом её закрыли."]
    assert split_texts("Χάθηκαν σε σειρές ζώων (π.χ. Σπόγγους) νωρίς. Άλλες έμειναν.", "el") == [
        "Χάθηκαν σε σειρές ζώων (π.χ. Σπόγγους) νωρίς.", "Άλλες έμειναν."]


THAI_SENTENCE_1 = "สถิติเดิมเป็นของจอห์น เอลเวย์ ซึ่งนำทีมบรอนคอสไปสู่ชัยชนะในการแข่งขันซูเปอร์โบว์ลครั้งที่ 33 เมื่ออายุ 38 ปี"
THAI_SENTENCE_2 = "ปัจจุบันเขาดำรงตำแหน่งรองประธานบริหารฝ่ายปฏิบัติการฟุตบอลและผู้จัดการทั่วไปของทีมเดนเวอร์บรองโกส์"


def test_thai_space_between_sentences_splits():
    assert split_texts(f"{THAI_SENTENCE_1} {THAI_SENTENCE_2}", "th") == [THAI_SENTENCE_1, THAI_SENTENCE_2]


def test_thai_spaces_in_names_numbers_and_before_conjunctions_do_not_split():
    # "จอห์น เอลเวย์" (a name), "33 เมื่อ" / "38 ปี" (numbers), " ซึ่ง" ("which") stay inside the first sentence;
    # " และ" ("and") continues the clause
    text = f"{THAI_SENTENCE_1} และ{THAI_SENTENCE_2}"
    assert split_texts(text, "th") == [text]
    # a space after the repetition mark ๆ is spelling, not a boundary; a short tail is not a sentence
    assert split_texts("ใกล้ๆ กันนั้นมีโรงละคร", "th") == ["ใกล้ๆ กันนั้นมีโรงละคร"]
    assert split_texts(f"{THAI_SENTENCE_1} อีกด้วย", "th") == [f"{THAI_SENTENCE_1} อีกด้วย"]


def test_thai_double_space_and_punctuation_always_split():
    assert split_texts("ทีมชนะ  แฟนๆ ดีใจ", "th") == ["ทีมชนะ", "แฟนๆ ดีใจ"]
    assert split_texts("เขาชนะหรือไม่? ใช่", "th") == ["เขาชนะหรือไม่?", "ใช่"]
    spans = split_sentences(f"{THAI_SENTENCE_1} {THAI_SENTENCE_2}\n", "th")
    assert all(f"{THAI_SENTENCE_1} {THAI_SENTENCE_2}\n"[s.start : s.end] == s.text for s in spans)
