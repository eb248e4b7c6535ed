"""Data preparation units: readers for each format, cleaning, Bitext slots, dedup and leak-free splits."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from finetune.pii import PlaceholderMap
from finetune.prepare.cleaning import clean_text, normalize_slots, replace_hints, shape_conversation, slot_value
from finetune.prepare.config import STORE_VALUES, PrepareConfig, PrepareError
from finetune.prepare.readers import input_files, read_file
from finetune.prepare.splits import assign_splits, drop_duplicates, leaking_ids, load_eval_texts, read_qa_rows

BITEXT_HEADER = ["context", "role", "instruction", "intent", "entity_type", "entity_value", "start_offset",
                 "end_offset", "category", "tags", "response"]  # fmt: skip


def write_bitext(path: Path, rows: list[dict[str, str]]) -> Path:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, BITEXT_HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in BITEXT_HEADER})
    return path


def sgd_dialogue(dialogue_id: str, services: list[str], turns: list[tuple[str, str]]) -> dict[str, Any]:
    frames = [{"service": services[0], "state": {"active_intent": "CheckBalance"}}]
    turn_list = [{"speaker": s, "utterance": u, "frames": frames if s == "USER" else []} for s, u in turns]
    return {"dialogue_id": dialogue_id, "services": services, "turns": turn_list}


ABCD = [
    {
        "convo_id": 3592,
        "scenario": {"personal": {"customer_name": "crystal minh", "email": "cminh730@email.com",
                                  "phone": "(977) 625-2661", "username": "cminh730"},
                     "order": {"order_id": "3348917502"}, "flow": "product_defect", "subflow": "return_size"},
        "original": [["agent", "Hi!"], ["customer", "Hi! I need to return an item, can you help me?"],
                     ["agent", "sure, may I have your name please?"], ["customer", "Crystal Minh"],
                     ["action", "Account has been pulled up for Crystal Minh."],
                     ["customer", "Username: cminh730"], ["agent", "Thanks Crystal, the return is started."]],
    }
]  # fmt: skip


# --- readers ---------------------------------------------------------------------------------------------------


def test_bitext_csv_reader_keeps_ids_meta_and_tagged_entity(tmp_path: Path) -> None:
    path = write_bitext(tmp_path / "bitext.csv.gz", [
        {"instruction": "cancel order 00123842 please", "intent": "cancel_order", "category": "ORDER",
         "entity_type": "order_id", "entity_value": "123842", "tags": "BL",
         "response": "Sure, order {{Order Number}} is being cancelled. Call {{Customer Support Phone Number}}."},
        {"instruction": "bill from Mr. Jones", "intent": "check_invoice", "entity_type": "person_name",
         "entity_value": "Mr. Jones", "response": "Here is the bill from Mr. Jones in {{Invoices}}."},
    ])  # fmt: skip
    first, second = read_file(path)
    assert first.id == "bitext-00002" and first.source == "bitext_cs" and first.lang == "en"
    assert [m["role"] for m in first.messages] == ["user", "assistant"]
    assert first.meta["intent"] == "cancel_order" and first.meta["csv_row"] == 2
    assert first.hints == [("ORDER", "123842")] and second.hints == [("PERSON", "Mr. Jones")]


def test_sgd_reader_filters_services_and_maps_speakers(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    path = tmp_path / "dev" / "dialogues_001.json"
    path.write_text(json.dumps([
        sgd_dialogue("1_00000", ["Banks_1"], [("USER", "What's my balance?"), ("SYSTEM", "Checking or savings?")]),
        sgd_dialogue("1_00001", ["Restaurants_1"], [("USER", "Book a table"), ("SYSTEM", "Where?")]),
    ]))  # fmt: skip
    conversations = list(read_file(path, ("Banks_1",)))
    assert [c.id for c in conversations] == ["sgd-dev-1_00000"]
    assert conversations[0].messages == [{"role": "user", "content": "What's my balance?"},
                                         {"role": "assistant", "content": "Checking or savings?"}]  # fmt: skip
    assert conversations[0].meta["intent"] == "check_balance" and conversations[0].meta["split"] == "dev"
    assert len(list(read_file(path))) == 2  # no service filter


def test_abcd_reader_drops_actions_and_keeps_scenario_values_as_hints(tmp_path: Path) -> None:
    path = tmp_path / "abcd_sample.json"
    path.write_text(json.dumps(ABCD))
    (conversation,) = read_file(path)
    assert conversation.id == "abcd-3592" and conversation.meta["intent"] == "return_size"
    assert all("pulled up" not in m["content"] for m in conversation.messages)
    assert ("PERSON", "crystal minh") in conversation.hints and ("USERNAME", "cminh730") in conversation.hints
    full = tmp_path / "abcd_full.json"  # the full dataset's shape: {"train": [...], "dev": [...]}
    full.write_text(json.dumps({"train": ABCD, "dev": []}))
    assert [c.id for c in read_file(full)] == ["abcd-3592"]


def test_chat_jsonl_reader_and_the_bundled_conversations() -> None:
    conversations = list(read_file(Path("data/conversations/nimbus_es_part1.jsonl")))
    assert len(conversations) == 165 and conversations[0].lang == "es"
    assert conversations[0].meta["gold_ids"] and conversations[0].source == "nimbus_es"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello", "notes.txt: unknown format"),
        ("other.json", b'{"a": 1}', "other.json: unknown JSON format"),
        ("rows.csv", b"a,b\n1,2\n", "rows.csv: unknown CSV format"),
        ("chats.jsonl", b'{"messages": [{"role": "user", "content": "hi there"}]}\n{"messages": oops}\n',
         "chats.jsonl:2: invalid JSON"),
        ("empty.jsonl", b'{"id": "a", "messages": []}\n', "empty.jsonl:1: empty conversation"),
        ("blank.jsonl", b'{"id": "a", "messages": [{"role": "user", "content": "  "}]}\n', ":1: empty conversation"),
        ("role.jsonl", b'{"messages": [{"role": "bot", "content": "x"}]}\n', "role.jsonl:1: message role"),
        ("broken.json", b'[{"dialogue_id": 1,\n "turns": ]', "broken.json:2: invalid JSON"),
        # a CSV the csv module cannot read stopped with a traceback (_csv.Error)
        ("mac.csv", b"instruction,response\rhi,hello\r", "mac.csv#row1: invalid CSV: new-line character"),
    ],
)  # fmt: skip
def test_bad_inputs_name_the_file_and_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PrepareError, match=message.replace(".", r"\.")):
        list(read_file(path))


def test_a_bitext_csv_cell_of_any_length_is_read_as_kb_ingest_reads_one(tmp_path: Path) -> None:
    # a cell over the csv module's default 131,072 characters was refused, or read, depending on whether a kb ingest
    # of a CSV had run before in the same process (the limit is global): both readers now allow any length
    path = tmp_path / "long.csv"
    path.write_text('instruction,response\nhi there,"' + "x" * 140_000 + '"\n', encoding="utf-8")
    [conversation] = list(read_file(path))
    assert [len(m["content"]) for m in conversation.messages] == [8, 140_000]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("tickets.csv", b'ticket_id,author_role,body\n1001,end-user,"Hola, no me llega el pedido"\n'),
        ("tickets.json", b'[{"ticket_id": 1001, "comments": [{"author": "end-user", "body": "Hola"}]}]'),
        ("tickets.xml", b"<tickets/>"),
        # JSONL with other field names ("turns", "speaker", "text"): said only "record has no 'messages'"
        ("tickets.jsonl", b'{"conversation_id": "t1", "turns": [{"speaker": "customer", "text": "Hola"}]}\n'),
    ],
)
def test_an_export_of_another_shape_is_told_where_to_go(tmp_path: Path, name: str, content: bytes) -> None:
    """A help desk's ticket export (one row per message) was 'unknown CSV format: ... (Bitext CSV expected)', with
    no word of the chat JSONL every other source becomes."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PrepareError, match=r'convert other exports to chat JSONL.*"messages"'):
        list(read_file(path))


def test_folders_skip_documentation_and_non_dialogue_json(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("docs")
    (tmp_path / "schema.json").write_text("[]")
    (tmp_path / "guidelines.json").write_text('{"flow": {"description": "x"}}')
    files, skipped = input_files([tmp_path])
    assert [p.name for p, _ in files] == ["guidelines.json"] and {s["file"] for s in skipped} >= {
        str(tmp_path / "README.md"), str(tmp_path / "schema.json")}  # fmt: skip
    assert list(read_file(files[0][0], in_folder=True)) == []  # inside a folder: no dialogues, nothing read
    with pytest.raises(PrepareError, match="no such file"):
        input_files([tmp_path / "missing.jsonl"])


# --- cleaning ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("CafÃ© con leche, por favor", "Café con leche, por favor"),
        ("<p>Hola <b>mundo</b></p><script>alert(1)</script>", "Hola mundo"),
        ("Tom &amp; Jerry&nbsp;ship", "Tom & Jerry ship"),
        ("See **this** [page](https://nimbus.example/help)", "See this page (https://nimbus.example/help)"),
        ("  a \t b  \r\n\r\n\r\n\r\nc  ", "a b\n\nc"),
        ("Line one<br/>Line two", "Line one\nLine two"),
        ("Your order <ORDER_1> for <PERSON_1> is <i>late</i>", "Your order <ORDER_1> for <PERSON_1> is late"),
        ("2 < 3 and 5 > 4", "2 < 3 and 5 > 4"),
        # retrieval's HTML reader (kb ingest's): a table row is one line of cells, breadcrumbs are not the text
        (
            '<nav><a href="/">Inicio</a> &gt; Ayuda</nav><table><tr><th>Zona</th><th>Precio</th></tr>'
            "<tr><td>España</td><td><ORDER_1> 4,99 EUR</td></tr></table>",
            "Zona | Precio\nEspaña | <ORDER_1> 4,99 EUR",
        ),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


QUOTE_EN = "\n\nOn Mon, 3 Jun 2024, Ana wrote:\n> Hi, you can track it from your account.\n> Regards"
QUOTE_ES = "\n\nEl lun, 3 jun 2024 a las 10:00, Ana <ana@nimbus.example> escribió:\n> Hola, puedes seguirlo.\n> Saludos"


@pytest.mark.parametrize(
    ("role", "raw", "clean", "quoted", "signed"),
    [
        ("user", "The tracking link does not open." + QUOTE_EN, "The tracking link does not open.", 1, 0),
        ("user", "El enlace de seguimiento no abre." + QUOTE_ES, "El enlace de seguimiento no abre.", 1, 0),
        (
            "user",
            "Still no refund for my order.\n\n-----Original Message-----\nFrom: Nimbus <help@nimbus.example>\n"
            "Sent: Monday, June 3, 2024\nTo: Carlos\nSubject: RE: refund\n\nWe sent it.",
            "Still no refund for my order.",
            1,
            0,
        ),
        (
            "user",
            "Sigo sin el reembolso de mi pedido.\n\n-----Mensaje original-----\nDe: Nimbus <ayuda@nimbus.example>\n"
            "Enviado el: lunes, 3 de junio de 2024\nPara: Carlos\nAsunto: RE: reembolso\n\nLo enviamos.",
            "Sigo sin el reembolso de mi pedido.",
            1,
            0,
        ),
        ("user", "Where is my parcel?\n\nSent from my iPhone", "Where is my parcel?", 0, 1),
        ("user", "¿Dónde está mi paquete?\n\nEnviado desde mi iPhone", "¿Dónde está mi paquete?", 0, 1),
        (
            "user",
            "Can I pay by card?\nThanks,\nCarlos Gómez\n\nSent from my iPhone" + QUOTE_EN,
            "Can I pay by card?",
            1,
            1,
        ),
        (
            "assistant",
            "You can return it within 30 days.\n\nKind regards,\n<PERSON_2>\nAcme Support Team",
            "You can return it within 30 days.",
            0,
            1,
        ),
        (
            "assistant",
            "Puedes devolverlo en 30 días.\n\nUn saludo,\n<PERSON_2>\nEquipo de Atención al Cliente",
            "Puedes devolverlo en 30 días.",
            0,
            1,
        ),
        (
            "assistant",
            "<div>Puedes devolverlo en 30 días.</div><div>Atentamente,<br>Ana López<br>Nimbus Market</div>"
            "<div>El lun, 3 jun 2024 a las 9:58, Carlos escribió:</div><blockquote>quiero devolverlo</blockquote>",
            "Puedes devolverlo en 30 días.",
            1,
            1,
        ),
        # not mail: kept as they are
        ("user", "I ordered shoes.\nThanks, and one more thing: can I pay by PayPal?", None, 0, 0),
        ("user", "I want to send a parcel\nFrom: Madrid\nTo: Barcelona\nIs that possible?", None, 0, 0),
        ("assistant", "To return it:\n- open your orders\n- pick the item\n- print the label", None, 0, 0),
        ("assistant", "Te ayudo con eso.\nGracias,\nhe revisado tu pedido y ya ha salido", None, 0, 0),
    ],
)
def test_shape_trims_quoted_replies_and_sign_offs(
    role: str, raw: str, clean: str | None, quoted: int, signed: int
) -> None:
    """An operator's help-desk export: quoted replies, "Sent from my iPhone" and agents' sign-offs were kept in
    the training turns, and a model tuned on them signed its answers with "<PERSON_2>"."""
    counts: Counter[str] = Counter()
    other = {"role": "assistant" if role == "user" else "user", "content": "A message of the other side here."}
    messages = [{"role": role, "content": raw}, other] if role == "user" else [other, {"role": role, "content": raw}]
    turns = shape_conversation(messages, PrepareConfig(), counts)
    assert [t["content"] for t in turns if t["role"] == role] == [clean if clean is not None else clean_text(raw)]
    assert (counts["quoted_replies_trimmed"], counts["signatures_trimmed"]) == (quoted, signed)


def test_shape_drops_short_foreign_and_empty_turns_and_caps() -> None:
    counts: Counter[str] = Counter()
    messages = [
        {"role": "system", "content": "old prompt"},
        {"role": "assistant", "content": "Hi! How can I help you today?"},
        {"role": "user", "content": "I want to return my shoes please"},
        {"role": "user", "content": "<p></p>"},
        {"role": "assistant", "content": "Okay."},
        {"role": "user", "content": "Bonjour, je voudrais annuler ma commande s'il vous plaît"},
        {"role": "user", "content": "They are too small for me"},
        {"role": "assistant", "content": "You can return them within 30 days."},
        {"role": "user", "content": "Thanks, one more question"},
    ]
    turns = shape_conversation(messages, PrepareConfig(), counts)
    assert turns == [
        {"role": "user", "content": "I want to return my shoes please\nThey are too small for me"},
        {"role": "assistant", "content": "You can return them within 30 days."},
    ]
    assert counts["short_turns"] == 1 and counts["other_language_turns"] == 1 and counts["empty_turns"] == 1
    assert counts["leading_assistant_turns"] == 1 and counts["trailing_user_turns"] == 1
    long = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn number {i} here"} for i in range(30)]
    capped = shape_conversation(long, PrepareConfig(max_messages=6), counts)
    assert len(capped) == 6 and capped[-1]["role"] == "assistant" and counts["conversations_capped"] == 1


def test_bitext_slots_become_typed_placeholders_store_facts_and_labels() -> None:
    assert slot_value("Order Number", STORE_VALUES) == ("ORDER", "order number")
    assert slot_value("Purchase ID Anonymized", STORE_VALUES) == ("ORDER", "purchase id")
    assert slot_value("113542617735902", STORE_VALUES) == ("ORDER", "113542617735902")
    assert slot_value("Customer Support Phone Number", STORE_VALUES) == ("", "+34 910 555 010")
    assert slot_value("Website Name", STORE_VALUES) == ("", "Nimbus Market")
    assert slot_value("Live Chat", STORE_VALUES) is None
    mapping, counts = PlaceholderMap(), Counter[str]()
    question = replace_hints("cancel order 00123842 now", [("ORDER", "123842")], mapping)
    answer = normalize_slots(
        "Order {{Order Number}} ({{Purchase ID Anonymized}}) is cancelled; see {{Order Details}} or call "
        "{{Customer Support Phone Number}} on {{Website Name}}.",
        mapping, STORE_VALUES, {"ORDER": "123842"}, counts,
    )  # fmt: skip
    assert question == "cancel order <ORDER_1> now"
    assert answer == ("Order <ORDER_1> (<ORDER_1>) is cancelled; see Order Details or call +34 910 555 010 on "
                      "Nimbus Market.")  # fmt: skip
    assert counts == Counter(slots=5, slots_typed=2, slots_label=1, slots_store=2)
    # Without a tagged value, every order slot of one conversation is one placeholder, the next type number.
    other = PlaceholderMap()
    assert (
        normalize_slots("{{Order Number}} / {{Order ID}}", other, STORE_VALUES, {}, counts) == "<ORDER_1> / <ORDER_1>"
    )


# --- dedup, leaks, splits ---------------------------------------------------------------------------------------

WORDS = [
    "refund",
    "shipping",
    "parcel",
    "invoice",
    "account",
    "password",
    "address",
    "delivery",
    "return",
    "exchange",
    "voucher",
    "store",
    "courier",
    "payment",
    "card",
    "order",
    "cancel",
    "track",
    "label",
    "printer",
    "customs",
    "duties",
    "warehouse",
    "pickup",
    "locker",
    "points",
]


def _record(rid: str, text: str, group: str | None = None, source: str = "s", lang: str = "en") -> dict[str, Any]:
    return {"id": rid, "lang": lang, "source": source, "meta": {"group": group} if group else {},
            "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok then"}]}  # fmt: skip


def _sentence(seed: int, n: int = 30) -> str:
    import random

    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 9)) for _ in range(n))


def test_exact_and_near_duplicates_are_dropped_keeping_one() -> None:
    base = _sentence(1)
    near = base.rsplit(" ", 1)[0] + " extra"  # one word of thirty changed
    records = [_record("a", base), _record("b", base.upper() + "!"), _record("c", near), _record("d", _sentence(2))]
    kept, summary = drop_duplicates(records, 0.7, 128)
    # one of the three is kept: the longest (retrieval.dedup's representative rule)
    assert [r["id"] for r in kept] == ["b", "d"] and summary["dropped"] == 2 and summary["pairs"]["exact"] == 1


def test_near_duplicates_and_groups_never_cross_splits() -> None:
    records = []
    for i in range(60):
        base = _sentence(100 + i)
        words = base.split()
        records.append(_record(f"r{i}a", base))
        # about half the shingles shared: below the drop threshold (0.7), above the split threshold (0.5)
        variant = " ".join(words[:24] + [w + "x" for w in words[24:27]] + words[27:])
        records.append(_record(f"r{i}b", variant))
    records += [_record(f"g{i}", _sentence(500 + i), group="G7" if i % 2 else None) for i in range(40)]
    from retrieval.dedup import jaccard, shingles

    sims = [jaccard(shingles(records[2 * i]["messages"][0]["content"]),
                    shingles(records[2 * i + 1]["messages"][0]["content"])) for i in range(60)]  # fmt: skip
    assert all(0.5 <= s < 0.7 for s in sims), sims
    assignment, summary = assign_splits(records, (0.6, 0.2, 0.2), seed=3, jaccard=0.5, num_perm=128)
    assert all(assignment[f"r{i}a"] == assignment[f"r{i}b"] for i in range(60))
    assert len({assignment[f"g{i}"] for i in range(1, 40, 2)}) == 1  # one group, one split
    assert set(assignment.values()) == {"train", "val", "test"} and summary["multi_member_units"] >= 61
    again, _ = assign_splits(records, (0.6, 0.2, 0.2), seed=3, jaccard=0.5, num_perm=128)
    assert again == assignment  # deterministic for a seed


def test_eval_questions_are_found_in_training_text() -> None:
    questions = [("c1", "como cancelo un pedido", "es"), ("c2", "where is my parcel from last week", "en"),
                 ("c3", "something else entirely here", "en")]  # fmt: skip
    evals = [("¿Cómo cancelo un pedido?", "es"), ("Where is my parcel from last week?", "en")]
    assert leaking_ids(questions, evals, 0.7, 128) == {"c1", "c2"}


def test_config_validates() -> None:
    with pytest.raises(PrepareError, match="must not exceed"):
        PrepareConfig(train_fraction=0.8, val_fraction=0.3)
    with pytest.raises(PrepareError, match="raft_no_oracle_answer"):
        PrepareConfig(raft_no_oracle_answer="maybe")
    assert PrepareConfig().test_fraction == pytest.approx(0.1)


def test_values_found_once_are_replaced_in_every_turn_whatever_the_spacing() -> None:
    from finetune.prepare.cleaning import echo_hints

    hints = echo_hints([("PHONE", "612 345 678"), ("URL", "instagram.com/laura.perez_92"),
                        ("EMAIL", "javier.ruiz77@hotmail.com"), ("PERSON", "Ana García")])  # fmt: skip
    assert ("URL", "laura.perez_92") in hints and ("EMAIL", "javier.ruiz77") in hints
    assert all(kind != "PERSON" for kind, _ in hints)
    mapping = PlaceholderMap()
    mapping.placeholder("PHONE", "612 345 678")
    text = "ref 612345678, or 612-345-678; handle laura.perez_92; mail javier.ruiz77; not 1612345678"
    assert replace_hints(text, hints, mapping) == (
        "ref <PHONE_1>, or <PHONE_1>; handle <URL_1>; mail <EMAIL_1>; not 1612345678"
    )


def test_kb_questions_keep_a_name_the_article_writes_capitalised() -> None:
    """A title's first word keeps its capital when the article writes it so after a lower-case word (another
    company's product, a payment brand); only "Nimbus..." did before, so "Acme Rewards" became "acme Rewards"."""
    from finetune.prepare.raft import kb_questions

    assert kb_questions("Acme Rewards", "en", "You can join Acme Rewards for free.")[0] == (
        "Can you tell me about Acme Rewards?"
    )
    assert kb_questions("PayPal refunds", "es", "Si pagaste con PayPal, el reembolso vuelve allí.")[0] == (
        "¿Me puedes dar información sobre PayPal refunds?"
    )
    assert kb_questions("Returns policy", "en", "Returns are free. See the returns policy.")[0] == (
        "Can you tell me about returns policy?"
    )
    assert kb_questions("Gift cards", "en", "Gift cards never expire.")[1] == "What should I know about gift cards?"


def test_other_language_turns_are_what_the_chat_agent_calls_another_language() -> None:
    """One test of "another language" for data preparation and the graph (retrieval.language.other_language)."""
    from finetune.prepare.cleaning import is_other_language
    from retrieval.language import other_language

    for text in ("Salut, est-ce que vous livrez en Belgique ? Combien coûte la livraison ?",
                 "Guten Tag, wo ist mein Paket? Ich warte schon seit zwei Wochen.",
                 "cn i pay wiht paypall or aplle pay", "como me apunto a la newsletter de la tienda",
                 "hola buenas, quiero devolver unas zapatillas que me quedan pequeñas"):  # fmt: skip
        assert is_other_language(text) is (other_language(text) is not None)
    assert is_other_language("Salut, est-ce que vous livrez en Belgique ? Combien coûte la livraison ?")
    assert not is_other_language("cn i pay wiht paypall or aplle pay")
    assert not is_other_language("como me apunto a la newsletter de la tienda")


def test_eval_and_qa_files_that_are_not_utf8_are_named(tmp_path: Path) -> None:
    latin1 = tmp_path / "qa.jsonl"
    latin1.write_bytes('{"id": "1", "question": "¿Dónde?", "reference": "Aquí", "split": "dev"}\n'.encode("latin-1"))
    for read in (load_eval_texts, read_qa_rows):
        with pytest.raises(PrepareError, match=r"qa\.jsonl: not UTF-8 text"):
            read([latin1])
    (tmp_path / "list.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(PrepareError, match=r"list\.jsonl:1: expected a JSON object"):
        read_qa_rows([tmp_path / "list.jsonl"])
