#!/usr/bin/python3
"""Deterministic generator of the prefopt-mpi demo data set (data/demo/).

A synthetic support desk ("Nimbus Shop"): customers ask about orders, refunds,
returns, shipping, passwords, billing, account deletion, warranty, gift cards,
exchanges, damaged items and subscriptions.  Every DPO pair differs by ONE
explainable reason (metadata.reason); the rejected answer is a near miss of the
preferred one.  Invariants checked before anything is written:

  * every line follows the data contract (roles, >= 1 assistant message per
    output, tool-call arguments are JSON strings, tool messages reference a
    call id made earlier in the same output, weight only on assistant turns);
  * preferred != rejected; no prompt appears twice in the whole data set;
  * the held-out files share no prompt, customer name or order id with the
    training files (held-out rows use their own names, ids and wording);
  * the reference implementation of the style checks (style_checks.json) gives
    every preferred answer full marks, and every rejected answer fails at least
    one check, and only checks that belong to the pair's reason;
  * per-reason counts are balanced.

Output is byte-identical on every run (fixed seeds, fixed key order, "\\n").

Usage:
  /usr/bin/python3 scripts/gen_demo_data.py [--out data/demo]   # (re)generate
  /usr/bin/python3 scripts/gen_demo_data.py --check [--out DIR] # compare, exit 1 on diff

Standard library only.
"""

import argparse
import filecmp
import json
import os
import random
import re
import sys
import tempfile

SEED = 20250501
SHOP = "Nimbus Shop"
SYSTEM = ("You are the Nimbus Shop help desk. Answer briefly and correctly. "
          "Cite the policy id when you use a policy.")
# Rows with tools carry no context (the data comes from the tools), so their
# system prompt is shorter: two tool schemas must still fit a 128-token prompt.
SYSTEM_TOOLS = "You are the Nimbus Shop help desk. Use a tool when you need account data."

REASONS = [
    "follows_json_schema", "concise", "not_too_terse", "cites_policy",
    "asks_clarification", "answers_directly", "correct_fact",
    "polite_refusal", "helps_when_allowed", "uses_tool",
]
DIFFICULTIES = ["easy", "borderline", "tricky"]

# Rows per reason in each file (10 reasons).
COUNTS = {
    "dpo_train": 220, "dpo_heldout": 5,
    "sft_train": 200, "sft_heldout": 5,
    "prompts_train": 100, "prompts_heldout": 5,
}
SFT_WEIGHT0_EVERY = 20  # every 20th SFT training row gets an earlier weight-0 turn

# ---------------------------------------------------------------- vocabulary
TRAIN_NAMES = [
    "Maria", "Tom", "Aisha", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus",
    "Hana", "Ivan", "Jade", "Kofi", "Lena", "Marco", "Nina", "Omar", "Priya",
    "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wes", "Yuki", "Zoe",
    "Alan", "Bea", "Carl", "Dora", "Emil", "Faye", "Gina", "Hugo", "Iris",
    "Jon", "Kim", "Leo", "Ruth",
]
HELDOUT_NAMES = ["Noor", "Pablo", "Sofia", "Theo", "Ulla", "Viktor", "Wanda",
                 "Yara", "Zane", "Mila"]
PRODUCTS = ["lamp", "kettle", "speaker", "jacket", "blender", "backpack",
            "shirt", "toaster", "mug", "scarf"]
ELECTRONICS = ["kettle", "speaker", "blender", "toaster", "headphones", "radio"]
STREETS = ["Oak Street", "Mill Road", "Lake Avenue", "Hill Lane", "Park Road",
           "River Street", "Elm Street", "Bay Road"]
MONTHS = ["March", "April", "May", "June", "July"]
STATUSES = [("shipped", "has shipped"), ("processing", "is being processed"),
            ("out for delivery", "is out for delivery")]

# Stock filler: every filler sentence contains one of BANNED_FILLER.
FILLER_OPEN = [
    "Thank you so much for reaching out to us today!",
    "Great question, and thanks for contacting the Nimbus Shop help desk!",
    "I completely understand how important this is for you.",
]
FILLER_CLOSE = [
    "I hope this helps, and have a wonderful day!",
    "Please do not hesitate to contact us again with any other questions.",
    "We truly value you as a customer of the Nimbus Shop.",
]
BANNED_FILLER = ["thank you so much", "great question", "i completely understand",
                 "i hope this helps", "do not hesitate", "have a wonderful day",
                 "we truly value you"]

# Topics: a fact with one number, a factual question, a how-to question.
# Every list of user phrasings keeps its LAST entry for the held-out split.
TOPICS = [
    dict(key="refund_time", letter="R", group="bdays", values=["3", "5", "7", "10"],
         fact="refunds are paid within {v} business days after the return arrives",
         value="{v} business days",
         q=["How long does a refund take?", "When will my refund be paid?",
            "How many days until I get my money back?",
            "How soon is a refund paid once my return is in?"],
         answer="Refunds are paid within {v} business days after your return arrives.",
         howto=["How do I get a refund?", "How can I get my money back for an item?",
                "What do I do to get a refund?", "What are the steps for a refund?"],
         steps="Send the item back with the free return label. Your refund is paid "
               "within {v} business days after it arrives.",
         terse="Send it back.", fact_only="Refunds take {v} business days.",
         action_only="Send the item back with the free return label."),
    dict(key="return_window", letter="T", group="days", values=["14", "30", "45", "60"],
         fact="items can be returned up to {v} days after delivery",
         value="{v} days",
         q=["How long do I have to return an item?", "What is the return window?",
            "Until when can I send something back?",
            "How many days do I get to return a product?"],
         answer="You can return an item up to {v} days after delivery.",
         howto=["How do I return an item?", "How can I send a product back?",
                "What is the way to return something?",
                "What should I do to return my purchase?"],
         steps="Print the return label from your orders page and ship the item "
               "within {v} days of delivery.",
         terse="Ship it back.", fact_only="Returns are allowed for {v} days.",
         action_only="Print the return label from your orders page."),
    dict(key="shipping", letter="S", group="bdays", values=["2-4", "3-5", "4-6", "6-8"],
         fact="standard shipping takes {v} business days",
         value="{v} business days",
         q=["How long does shipping take?", "When will my package arrive with standard shipping?",
            "How many days does standard delivery take?",
            "What is the usual delivery time for standard shipping?"],
         answer="Standard shipping takes {v} business days.",
         howto=["How do I track my package?", "How can I follow my delivery?",
                "Where can I see my shipment?", "What is the way to check where my parcel is?"],
         steps="Open the tracking link in your shipping email. Standard shipping takes "
               "{v} business days.",
         terse="Check your email.", fact_only="Shipping takes {v} business days.",
         action_only="Open the tracking link in your shipping email."),
    dict(key="password", letter="P", group="hours", values=["6", "12", "24", "48"],
         fact="password reset links expire after {v} hours",
         value="{v} hours",
         q=["How long is a password reset link valid?", "When does the reset link expire?",
            "How long can I use the password reset email?",
            "For how many hours does a reset link work?"],
         answer="Password reset links expire after {v} hours.",
         howto=["How do I reset my password?", "I forgot my password. What do I do?",
                "How can I change my password?", "What are the steps to get a new password?"],
         steps="Click Forgot password on the login page and open the link we email you. "
               "The link expires after {v} hours.",
         terse="Reset it.", fact_only="Links expire after {v} hours.",
         action_only="Click Forgot password on the login page."),
    dict(key="billing", letter="B", group="bdays", values=["2", "3", "5", "7"],
         fact="a double charge is reversed within {v} business days",
         value="{v} business days",
         q=["I was charged twice. When do I get the money back?",
            "How long until a double charge is reversed?",
            "When is a duplicate charge paid back?",
            "How many days does it take to fix a double payment?"],
         answer="A double charge is reversed within {v} business days.",
         howto=["I was charged twice. How do I fix it?", "How do I report a double charge?",
                "What do I do about a duplicate payment?",
                "How can I get a double charge removed?"],
         steps="Send us the order number and the dates of both charges. The extra charge "
               "is reversed within {v} business days.",
         terse="Tell us.", fact_only="It is reversed in {v} business days.",
         action_only="Send us the order number and the dates of both charges."),
    dict(key="deletion", letter="D", group="days", values=["7", "14", "30"],
         fact="accounts are deleted {v} days after the request",
         value="{v} days",
         q=["How long does it take to delete my account?",
            "When is my account gone after I ask to delete it?",
            "How many days until my account is deleted?",
            "After a deletion request, when is the account removed?"],
         answer="Your account is deleted {v} days after the request.",
         howto=["How do I delete my account?", "How can I close my account for good?",
                "What do I do to remove my account?", "What are the steps to erase my account?"],
         steps="Open Settings, choose Delete account and confirm by email. The account "
               "is deleted {v} days after the request.",
         terse="Use Settings.", fact_only="It takes {v} days.",
         action_only="Open Settings, choose Delete account and confirm by email."),
    dict(key="warranty", letter="W", group="years", values=["1", "2", "3"],
         fact="electronics have a {v}-year warranty",
         value="{v}-year warranty",
         q=["How long is the warranty on electronics?", "What warranty do I get on a speaker?",
            "How many years of warranty come with electronics?",
            "For how long are electronics covered?"],
         answer="Electronics have a {v}-year warranty.",
         howto=["My speaker stopped working. What do I do?", "How do I make a warranty claim?",
                "How can I get my broken headphones repaired?",
                "What is the process for a warranty repair?"],
         steps="Open a warranty claim on your orders page with a photo of the fault. "
               "Electronics have a {v}-year warranty.",
         terse="Send a photo.", fact_only="You have a {v}-year warranty.",
         action_only="Open a warranty claim on your orders page."),
    dict(key="gift_card", letter="G", group="months", values=["6", "12", "24", "36"],
         fact="gift cards are valid for {v} months",
         value="{v} months",
         q=["How long is a gift card valid?", "When does my gift card expire?",
            "For how many months can I use a gift card?",
            "What is the expiry period of a gift card?"],
         answer="Gift cards are valid for {v} months.",
         howto=["How do I use a gift card?", "How can I pay with a gift card?",
                "Where do I enter my gift card?", "What are the steps to redeem a gift card?"],
         steps="Enter the gift card code at checkout under Payment. Gift cards are valid "
               "for {v} months.",
         terse="Use it at checkout.", fact_only="They last {v} months.",
         action_only="Enter the gift card code at checkout under Payment."),
    dict(key="exchange", letter="X", group="days", values=["14", "30", "60"],
         fact="size exchanges are free up to {v} days after delivery",
         value="{v} days",
         q=["How long can I exchange a size for free?", "Until when is a size exchange free?",
            "How many days do I have for a free exchange?",
            "What is the time limit for a free size exchange?"],
         answer="Size exchanges are free up to {v} days after delivery.",
         howto=["How do I exchange a shirt for another size?", "How can I swap my jacket for a bigger size?",
                "What do I do to get a different size?",
                "What are the steps to exchange an item for another size?"],
         steps="Choose Exchange on your orders page and pick the new size. Size exchanges "
               "are free up to {v} days after delivery.",
         terse="Use the orders page.", fact_only="Exchanges are free for {v} days.",
         action_only="Choose Exchange on your orders page and pick the new size."),
    dict(key="damage", letter="M", group="hours", values=["24", "48", "72"],
         fact="damaged items must be reported within {v} hours of delivery",
         value="{v} hours",
         q=["How long do I have to report a damaged item?",
            "When must I tell you about a broken delivery?",
            "How many hours do I have to report damage?",
            "What is the deadline to report an item that arrived damaged?"],
         answer="Damaged items must be reported within {v} hours of delivery.",
         howto=["My item arrived broken. What do I do?", "How do I report a damaged item?",
                "My lamp came cracked. How do I get help?",
                "What should I do when a delivery arrives damaged?"],
         steps="Send us a photo of the damage from your orders page. Damaged items must "
               "be reported within {v} hours of delivery.",
         terse="Send a photo.", fact_only="Report it within {v} hours.",
         action_only="Send us a photo of the damage from your orders page."),
    dict(key="subscription", letter="C", group="hours", values=["12", "24", "48"],
         fact="a subscription can be cancelled up to {v} hours before renewal",
         value="{v} hours",
         q=["How late can I cancel my subscription?", "When is the last moment to cancel before renewal?",
            "How many hours before renewal can I still cancel?",
            "What is the cancel deadline for a subscription?"],
         answer="You can cancel a subscription up to {v} hours before renewal.",
         howto=["How do I cancel my subscription?", "How can I stop my subscription?",
                "What do I do to end my subscription?",
                "What are the steps to cancel a subscription?"],
         steps="Open Subscriptions in your account and click Cancel. You can cancel up "
               "to {v} hours before renewal.",
         terse="Click Cancel.", fact_only="Cancel {v} hours before renewal.",
         action_only="Open Subscriptions in your account and click Cancel."),
]

TOOLS = {
    "get_order_status": {"type": "function", "function": {
        "name": "get_order_status", "description": "Status of an order.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}},
    "get_refund_status": {"type": "function", "function": {
        "name": "get_refund_status", "description": "Refund of an order.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}},
    "send_reset_link": {"type": "function", "function": {
        "name": "send_reset_link", "description": "Email a reset link.",
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}}}},
}

# Item fields of prompt rows, in output order (graders read them).
ITEM_KEYS = ["expected_policy", "answer", "required_keys", "json_schema", "must_ask",
             "must_refuse", "expected_tool", "arguments_schema", "min_words",
             "max_words", "banned_phrases"]
DEFAULT_MAX_WORDS = 40

# The check(s) a rejected answer may fail, per reason (the one reason it loses).
REASON_CHECKS = {
    "follows_json_schema": {"json_valid", "json_schema"},
    "concise": {"max_length", "avoids_banned_phrases"},
    "not_too_terse": {"min_length", "states_answer"},
    "cites_policy": {"cites_policy"},
    "asks_clarification": {"clarifies_when_needed"},
    "answers_directly": {"clarifies_when_needed"},
    "correct_fact": {"states_answer"},
    "polite_refusal": {"refuses_when_needed", "avoids_banned_phrases"},
    "helps_when_allowed": {"refuses_when_needed"},
    "uses_tool": {"calls_expected_tool", "tool_arguments"},
}


# ---------------------------------------------------------------- helpers
def lcfirst(s):
    return s[0].lower() + s[1:]


def words(s):
    return len(s.split())


def cite(pid, text):
    return "Per Policy %s, %s" % (pid, lcfirst(text))


def msg(role, content):
    return {"role": role, "content": content}


def tool_call_msg(name, args_json, call_id="call_1"):
    return {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function",
            "function": {"name": name, "arguments": args_json}}]}


def tool_result(content, call_id="call_1"):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def jdump(obj):
    """JSON text inside messages (tool arguments, JSON answers): default spacing."""
    return json.dumps(obj, ensure_ascii=False)


def line(obj):
    """One JSONL line: compact, key order as built, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


class Pool:
    """Customers, ids and wording of one split; held-out uses its own of each."""

    def __init__(self, split):
        self.split = split
        self.heldout = split == "heldout"
        self.names = HELDOUT_NAMES if self.heldout else TRAIN_NAMES
        self.order_lo, self.order_hi = (80000, 99999) if self.heldout else (10000, 79999)

    def pick(self, rng, variants):
        """Held-out wording is the last variant; training uses the others."""
        return variants[-1] if self.heldout else rng.choice(variants[:-1])

    def name(self, rng):
        return rng.choice(self.names)

    def other_name(self, rng, name):
        return rng.choice([n for n in self.names if n != name])

    def order_id(self, rng):
        return "A%d" % rng.randint(self.order_lo, self.order_hi)

    def email(self, rng, name):
        return "%s%d@example.com" % (name.lower(), rng.randint(10, 99))

    def greet(self, rng, name):
        if self.heldout:
            return "Hi, my name is %s." % name
        return rng.choice(["Hi, this is %s." % name, "Hello, %s here." % name, "Hi there.", ""])

    def user(self, rng, name, text):
        return (self.greet(rng, name) + " " + text).strip()


def system_with(context_lines, tools=False):
    s = SYSTEM_TOOLS if tools else SYSTEM
    if context_lines:
        s += "\nContext: " + " ".join(context_lines)
    return s


def policy_id(rng, topic):
    return "%s-%d" % (topic["letter"], rng.randint(10, 49))


def ctx_line(topic, v, pid):
    """A context sentence: "Policy R-14: Refunds are ..." or "Info: Refunds are ..."."""
    f = topic["fact"].format(v=v)
    return "%s: %s%s." % ("Policy " + pid if pid else "Info", f[0].upper(), f[1:])


def near_miss(rng, topic, v, far):
    """Another value of the same topic; far = most distant, else adjacent."""
    vals = topic["values"]
    ans = topic["value"].format(v=v)
    ok = [w for w in vals if w != v and ans not in topic["value"].format(v=w)
          and topic["value"].format(v=w) not in ans]
    i = vals.index(v)
    if far:
        return max(ok, key=lambda w: (abs(vals.index(w) - i), vals.index(w)))
    return min(ok, key=lambda w: (abs(vals.index(w) - i), -vals.index(w)))


def other_topic(rng, topic, same_group):
    cands = [t for t in TOPICS if t is not topic and (not same_group or t["group"] == topic["group"])]
    return rng.choice(cands)


def new_example(reason, difficulty, system, user, preferred, rejected, item, tools=None):
    return dict(reason=reason, difficulty=difficulty, system=system, user=user,
                tools=tools, preferred=preferred, rejected=rejected, item=item)


def topic_item(topic, v, pid, **extra):
    item = {"answer": topic["value"].format(v=v), "max_words": DEFAULT_MAX_WORDS,
            "banned_phrases": list(BANNED_FILLER)}
    if pid:
        item["expected_policy"] = pid
    item.update(extra)
    return item


# ---------------------------------------------------------------- reasons
def gen_follows_json_schema(rng, pool, diff):
    name = pool.name(rng)
    family = rng.choice(["order", "refund", "account"])
    if family == "order":
        oid = pool.order_id(rng)
        status = rng.choice(STATUSES)[0]
        eta = "%s %d" % (rng.choice(MONTHS), rng.randint(1, 28))
        vals = {"order_id": oid, "status": status, "eta": eta}
        ctx = "Info: Order %s has status %s and arrives on %s." % (oid, status, eta)
        q = pool.pick(rng, ["What is the status of order {o}?", "Where is order {o} now?",
                            "Can you check order {o} for me?", "Could you look up order {o}?"])
        q = q.format(o=oid)
        keysets = [["order_id", "status"], ["order_id", "eta"], ["order_id", "status", "eta"]]
    elif family == "refund":
        oid = pool.order_id(rng)
        rs = rng.choice(["approved", "paid", "pending"])
        amt = rng.randint(10, 120)
        vals = {"order_id": oid, "refund_status": rs, "amount_usd": amt}
        ctx = "Info: The refund for order %s is %s and the amount is %d USD." % (oid, rs, amt)
        q = pool.pick(rng, ["What is the refund status for order {o}?",
                            "Is my refund for order {o} done?", "Check the refund on order {o}.",
                            "How is the refund on order {o} going?"]).format(o=oid)
        keysets = [["order_id", "refund_status"], ["refund_status", "amount_usd"],
                   ["order_id", "refund_status", "amount_usd"]]
    else:
        email = pool.email(rng, name)
        n = rng.randint(0, 5)
        year = rng.randint(2015, 2024)
        vals = {"email": email, "open_orders": n, "member_since": year}
        ctx = "Info: Account %s has %d open order%s and is a member since %d." % (
            email, n, "" if n == 1 else "s", year)
        q = pool.pick(rng, ["How many open orders does my account {e} have?",
                            "Tell me about my account {e}.", "What is on my account {e}?",
                            "Can you summarize my account {e}?"]).format(e=email)
        keysets = [["email", "open_orders"], ["email", "member_since"],
                   ["email", "open_orders", "member_since"]]
    keys = rng.choice(keysets)
    kp = keys[0] + " and " + keys[1] if len(keys) == 2 else "%s, %s and %s" % tuple(keys)
    instr = pool.pick(rng, ["Reply only with JSON with the keys {k}.",
                            "Answer in JSON with the keys {k}.",
                            "Give me only JSON with the keys {k}.",
                            "Respond with a JSON object that has the keys {k}."]).format(k=kp)
    user = pool.user(rng, name, q + " " + instr)
    obj = {k: vals[k] for k in keys}
    good = jdump(obj)
    if diff == "easy":
        bad = rng.choice(["Here is the JSON: " + good,
                          good + " Let me know if you need anything else."])
    elif diff == "borderline":
        drop = rng.choice(keys)
        bad = jdump({k: vals[k] for k in keys if k != drop})
    else:
        rename = {"order_id": "orderId", "status": "state", "eta": "arrival",
                  "refund_status": "refund", "amount_usd": "amount", "email": "mail",
                  "open_orders": "orders", "member_since": "since"}
        r = rng.choice(keys)
        bad = jdump({(rename[k] if k == r else k): vals[k] for k in keys})
    types = {"order_id": "string", "status": "string", "eta": "string",
             "refund_status": "string", "amount_usd": "integer", "email": "string",
             "open_orders": "integer", "member_since": "integer"}
    schema = {"type": "object", "properties": {k: {"type": types[k]} for k in keys},
              "required": list(keys), "additionalProperties": False}
    item = {"required_keys": list(keys), "json_schema": schema,
            "max_words": DEFAULT_MAX_WORDS, "banned_phrases": list(BANNED_FILLER)}
    return new_example("follows_json_schema", diff, system_with([ctx]), user,
                       [msg("assistant", good)], [msg("assistant", bad)], item)


def topic_prompt(rng, pool, topic, howto):
    return pool.pick(rng, topic["howto"] if howto else topic["q"])


def gen_concise(rng, pool, diff):
    topic = rng.choice(TOPICS)
    v = rng.choice(topic["values"])
    pid = policy_id(rng, topic) if rng.random() < 0.5 else None
    howto = rng.random() < 0.5
    name = pool.name(rng)
    user = pool.user(rng, name, topic_prompt(rng, pool, topic, howto))
    plain = (topic["steps"] if howto else topic["answer"]).format(v=v)
    good = cite(pid, plain) if pid else plain
    if diff == "easy":
        bad = "%s %s %s" % (rng.choice(FILLER_OPEN), good, rng.choice(FILLER_CLOSE))
    elif diff == "borderline":
        bad = "%s %s" % (good, rng.choice(FILLER_CLOSE))
    else:
        bad = "%s To repeat, %s" % (good, lcfirst(plain))
    item = topic_item(topic, v, pid, max_words=words(good) + 5)
    return new_example("concise", diff, system_with([ctx_line(topic, v, pid)]), user,
                       [msg("assistant", good)], [msg("assistant", bad)], item)


def gen_not_too_terse(rng, pool, diff):
    topic = rng.choice(TOPICS)
    v = rng.choice(topic["values"])
    name = pool.name(rng)
    user = pool.user(rng, name, topic_prompt(rng, pool, topic, True))
    good = topic["steps"].format(v=v)
    bad = {"easy": topic["terse"], "borderline": topic["fact_only"].format(v=v),
           "tricky": topic["action_only"]}[diff]
    item = topic_item(topic, v, None, min_words=10)
    return new_example("not_too_terse", diff, system_with([ctx_line(topic, v, None)]), user,
                       [msg("assistant", good)], [msg("assistant", bad)], item)


def gen_cites_policy(rng, pool, diff):
    topic = rng.choice(TOPICS)
    v = rng.choice(topic["values"])
    pid = policy_id(rng, topic)
    howto = rng.random() < 0.4
    name = pool.name(rng)
    user = pool.user(rng, name, topic_prompt(rng, pool, topic, howto))
    plain = (topic["steps"] if howto else topic["answer"]).format(v=v)
    good = cite(pid, plain)
    lines = [ctx_line(topic, v, pid)]
    if diff == "easy":
        bad = plain
    elif diff == "borderline":
        bad = "Per our policy, " + lcfirst(plain)
    else:
        t2 = other_topic(rng, topic, False)
        pid2 = policy_id(rng, t2)
        line2 = ctx_line(t2, rng.choice(t2["values"]), pid2)
        lines = [lines[0], line2] if rng.random() < 0.5 else [line2, lines[0]]
        bad = cite(pid2, plain)
    item = topic_item(topic, v, pid)
    return new_example("cites_policy", diff, system_with(lines), user,
                       [msg("assistant", good)], [msg("assistant", bad)], item)


def gen_correct_fact(rng, pool, diff):
    name = pool.name(rng)
    if rng.random() < 0.25:  # an order's arrival date
        oid = pool.order_id(rng)
        month = rng.choice(MONTHS)
        d1 = rng.randint(1, 20)
        d2 = d1 + rng.randint(2, 6)
        eta = "%s %d" % (month, d2)
        q = pool.pick(rng, ["When will order {o} arrive?", "What day does order {o} come?",
                            "When can I expect order {o}?",
                            "On which date should order {o} be delivered?"]).format(o=oid)
        user = pool.user(rng, name, q)
        ctx = "Info: Order %s shipped on %s %d and arrives on %s." % (oid, month, d1, eta)
        good = "Order %s arrives on %s." % (oid, eta)
        if diff == "easy":
            m2 = MONTHS[(MONTHS.index(month) + 2) % len(MONTHS)]
            wrong = "%s %d" % (m2, d2)
        elif diff == "borderline":
            wrong = "%s %d" % (month, d2 + rng.choice([-1, 1]))
        else:
            wrong = "%s %d" % (month, d1)
        bad = "Order %s arrives on %s." % (oid, wrong)
        item = {"answer": eta, "max_words": DEFAULT_MAX_WORDS,
                "banned_phrases": list(BANNED_FILLER)}
        return new_example("correct_fact", diff, system_with([ctx]), user,
                           [msg("assistant", good)], [msg("assistant", bad)], item)
    groups = {}
    for t in TOPICS:
        groups.setdefault(t["group"], []).append(t)
    if diff == "tricky":
        topic = rng.choice([t for t in TOPICS if len(groups[t["group"]]) > 1])
    else:
        topic = rng.choice(TOPICS)
    v = rng.choice(topic["values"])
    pid = policy_id(rng, topic) if rng.random() < 0.5 else None
    user = pool.user(rng, name, topic_prompt(rng, pool, topic, False))
    lines = [ctx_line(topic, v, pid)]
    ans = topic["value"].format(v=v)
    if diff == "tricky":
        while True:
            t2 = other_topic(rng, topic, True)
            w = rng.choice(t2["values"])
            wv = t2["value"].format(v=w)
            if wv != ans and ans not in wv and wv not in ans:
                break
        pid2 = policy_id(rng, t2) if pid else None
        line2 = ctx_line(t2, w, pid2)
        lines = [lines[0], line2] if rng.random() < 0.5 else [line2, lines[0]]
    else:
        w = near_miss(rng, topic, v, far=(diff == "easy"))
    good_plain = topic["answer"].format(v=v)
    bad_plain = topic["answer"].format(v=w)
    good = cite(pid, good_plain) if pid else good_plain
    bad = cite(pid, bad_plain) if pid else bad_plain
    item = topic_item(topic, v, pid)
    return new_example("correct_fact", diff, system_with(lines), user,
                       [msg("assistant", good)], [msg("assistant", bad)], item)


def _ambiguity(rng, pool, two, named):
    """A context with one or two candidates (orders, items, things to cancel,
    accounts); the user names the one meant (named) or not.

    Returns (context, user, ask, answer, guesses, confirm, generic): ask is the
    clarifying question, answer the direct answer for the meant candidate,
    guesses the easy / borderline / tricky wrong guesses, confirm a needless
    confirmation question and generic a needless generic question."""
    name = pool.name(rng)
    kind = rng.choice(["orders", "items", "cancel", "accounts"])
    if kind == "orders":
        o1, o2 = pool.order_id(rng), pool.order_id(rng)
        while o2 == o1:
            o2 = pool.order_id(rng)
        (s1, p1), (s2, p2) = rng.sample(STATUSES, 2)
        if two:
            ctx = "Info: %s has two open orders: %s (%s) and %s (%s)." % (name, o1, s1, o2, s2)
            tgt, ptgt = rng.choice([(o1, p1), (o2, p2)]) if named else (o1, p1)
        else:
            ctx = "Info: %s has one open order: %s (%s)." % (name, o1, s1)
            tgt, ptgt = o1, p1
        if named:
            text = pool.pick(rng, ["Where is order {o}?", "What is the status of order {o}?",
                                   "Has order {o} shipped yet?",
                                   "Can you tell me how order {o} is doing?"]).format(o=tgt)
        else:
            text = pool.pick(rng, ["Where is my order?", "What is the status of my order?",
                                   "Has my order shipped yet?",
                                   "Can you tell me how my order is doing?"])
        ask = "You have two orders, %s and %s. Which one do you mean?" % (o1, o2)
        answer = "Order %s %s." % (tgt, ptgt)
        guesses = ["Your order %s." % p1, "Order %s %s." % (o1, p1),
                   "You have two orders. I assume you mean %s, which %s." % (o1, p1)]
        confirm = "Do you mean order %s?" % tgt
        generic = "Which order do you mean?"
    elif kind == "items":
        oid = pool.order_id(rng)
        a, b = rng.sample(PRODUCTS, 2)
        if two:
            ctx = "Info: Order %s contains a %s and a %s." % (oid, a, b)
            tgt = rng.choice([a, b]) if named else a
        else:
            ctx = "Info: Order %s contains one %s." % (oid, a)
            tgt = a
        if named:
            text = pool.pick(rng, ["I want to return the {p} from order {o}.",
                                   "Please start a return for the {p} in order {o}.",
                                   "Can I send back the {p} from order {o}?",
                                   "I would like to return the {p} I got in order {o}."]
                             ).format(p=tgt, o=oid)
        else:
            text = pool.pick(rng, ["I want to return the item from order {o}.",
                                   "Please start a return for order {o}.",
                                   "Can I send back my item from order {o}?",
                                   "I would like to return what I got in order {o}."]
                             ).format(o=oid)
        ask = "Order %s has a %s and a %s. Which item do you want to return?" % (oid, a, b)
        answer = "I started a return for the %s from order %s." % (tgt, oid)
        guesses = ["I started a return for your item.",
                   "I started a return for the %s from order %s." % (a, oid),
                   "Order %s has two items. I will assume the %s and start its return." % (oid, a)]
        confirm = "Do you mean the %s?" % tgt
        generic = "Which item do you mean?"
    elif kind == "cancel":
        oid = pool.order_id(rng)
        if two:
            ctx = "Info: %s has an active subscription and an open order %s." % (name, oid)
            sub = rng.random() < 0.5 if named else True
        else:
            ctx = "Info: %s has an active subscription and no open orders." % name
            sub = True
        tgt = "your subscription" if sub else "order %s" % oid
        if named:
            text = pool.pick(rng, ["Please cancel {t}.", "Cancel {t}, please.",
                                   "I want to stop {t}.", "Could you cancel {t} for me?"]
                             ).format(t=tgt.replace("your ", "my "))
        else:
            text = pool.pick(rng, ["Please cancel it.", "Cancel it, please.",
                                   "I want to stop it.", "Could you cancel it for me?"])
        ask = "Do you want to cancel your subscription or order %s?" % oid
        answer = "I cancelled %s." % tgt
        guesses = ["I cancelled it for you.", "I cancelled your subscription.",
                   "You have a subscription and order %s. I will cancel the subscription." % oid]
        confirm = "Do you want me to cancel %s?" % tgt
        generic = "What do you want to cancel?"
    else:
        e1 = pool.email(rng, name)
        e2 = pool.email(rng, name)
        while e2 == e1:
            e2 = pool.email(rng, name)
        if two:
            ctx = "Info: %s has two accounts: %s and %s." % (name, e1, e2)
            tgt = rng.choice([e1, e2]) if named else e1
        else:
            ctx = "Info: %s has one account: %s." % (name, e1)
            tgt = e1
        if named:
            text = pool.pick(rng, ["Send a password reset link to {e}.",
                                   "Please reset the password for {e}.",
                                   "I need a new password for {e}.",
                                   "Could you send {e} a reset link?"]).format(e=tgt)
        else:
            text = pool.pick(rng, ["Send me a password reset link.",
                                   "Please reset my password.", "I need a new password.",
                                   "Could you send me a reset link?"])
        ask = "You have two accounts, %s and %s. Which one should get the reset link?" % (e1, e2)
        answer = "I sent a reset link to %s." % tgt
        guesses = ["I sent you a reset link.", "I sent a reset link to %s." % e1,
                   "You have two accounts. I will assume %s and send the link there." % e1]
        confirm = "Do you mean %s?" % tgt
        generic = "Which account do you mean?"
    user = pool.user(rng, name, text)
    return ctx, user, ask, answer, guesses, confirm, generic


def gen_asks_clarification(rng, pool, diff):
    ctx, user, ask, _answer, guesses, _c, _g = _ambiguity(rng, pool, two=True, named=False)
    bad = guesses[DIFFICULTIES.index(diff)]
    item = {"must_ask": True, "max_words": DEFAULT_MAX_WORDS,
            "banned_phrases": list(BANNED_FILLER)}
    return new_example("asks_clarification", diff, system_with([ctx]), user,
                       [msg("assistant", ask)], [msg("assistant", bad)], item)


def gen_answers_directly(rng, pool, diff):
    # easy: one candidate, vague request; borderline: one candidate, named;
    # tricky: two candidates, the user names one.
    ctx, user, ask, answer, _g, confirm, generic = _ambiguity(
        rng, pool, two=(diff == "tricky"), named=(diff != "easy"))
    bad = {"easy": generic, "borderline": confirm, "tricky": ask}[diff]
    item = {"must_ask": False, "max_words": DEFAULT_MAX_WORDS,
            "banned_phrases": list(BANNED_FILLER)}
    return new_example("answers_directly", diff, system_with([ctx]), user,
                       [msg("assistant", answer)], [msg("assistant", bad)], item)


def _refusal_scenario(rng, pool, refuse, diff):
    """Out-of-policy (refuse=True) or allowed (refuse=False) look-alike requests.

    Returns (context, user, good, bad, banned)."""
    name = pool.name(rng)
    kinds = ["address", "refund", "delete", "gift", "warranty"]
    if diff == "borderline" and refuse:
        kinds = ["refund", "warranty"]      # one step past the limit
    if diff == "tricky" and not refuse:
        kinds = ["refund", "warranty"]      # exactly at the limit
    kind = rng.choice(kinds)
    oid = pool.order_id(rng)
    if kind == "address":
        addr_n, street = rng.randint(1, 99), rng.choice(STREETS)
        addr = "%d %s" % (addr_n, street)
        if refuse:
            other = pool.other_name(rng, name)
            ctx = "Info: Order %s belongs to another customer, %s, at %s." % (oid, other, addr)
            text = pool.pick(rng, ["What is the address on order {o}?",
                                   "Where is order {o} being sent?",
                                   "Tell me who gets order {o} and where.",
                                   "Which address does order {o} go to?"]).format(o=oid)
            good = ("Sorry, I can't share another customer's details. "
                    "I can help with orders on your own account.")
            bad = {"easy": "Order %s goes to %s at %s." % (oid, other, addr),
                   "tricky": "I can't share the full address, but it is on %s." % street}.get(
                diff, "The address on order %s is %s." % (oid, addr))
            banned = [street]
        else:
            ctx = "Info: Order %s belongs to %s, at %s." % (oid, name, addr)
            text = pool.pick(rng, ["What is the address on my order {o}?",
                                   "Where is my order {o} being sent?",
                                   "Which address did I use for order {o}?",
                                   "To which address does my order {o} go?"]).format(o=oid)
            good = "Your order %s goes to %s." % (oid, addr)
            bad = {"easy": "Sorry, I can't share address details.",
                   "borderline": "Sorry, I can't share addresses in chat. Please check your orders page."}.get(
                diff, "Sorry, I can't share another customer's details. "
                      "I can help with orders on your own account.")
            banned = []
    elif kind == "refund":
        w = rng.choice([14, 30, 45])
        if refuse:
            d = w + 1 if diff == "borderline" else w + rng.randint(10, 40)
        else:
            d = w if diff == "tricky" else rng.randint(2, w - 5)
        ctx = ("Info: Refunds are possible up to %d days after delivery. "
               "Order %s was delivered %d days ago." % (w, oid, d))
        text = pool.pick(rng, ["Please refund order {o}.", "I want my money back for order {o}.",
                               "Can I get a refund for order {o}?",
                               "I would like a refund on order {o}."]).format(o=oid)
        if refuse:
            good = ("Sorry, refunds are only possible up to %d days after delivery, and order %s "
                    "was delivered %d days ago. I can offer store credit instead." % (w, oid, d))
            bad = ("Order %s is past the limit, but I started a refund anyway." % oid
                   if diff == "tricky" else "I started a refund for order %s." % oid)
            banned = ["started a refund"]
        else:
            good = ("Order %s was delivered %d days ago, within the %d-day limit, so I started "
                    "a refund." % (oid, d, w))
            bad = ("Sorry, refunds are only possible up to %d days after delivery." % w
                   if diff != "easy" else "Sorry, I can't refund this order.")
            banned = []
    elif kind == "delete":
        if refuse:
            other = pool.other_name(rng, name)
            email = pool.email(rng, other)
            ctx = "Info: Account %s belongs to %s, not to %s." % (email, other, name)
            text = pool.pick(rng, ["Please delete the account {e} of my brother.",
                                   "Delete my friend's account {e}, please.",
                                   "I want the account {e} of my sister removed.",
                                   "Could you close the account {e} for my cousin?"]).format(e=email)
            good = ("Sorry, I can only delete an account when its owner asks. "
                    "The owner can send the request from their own account.")
            bad = {"easy": "I deleted the account %s." % email,
                   "tricky": "I can't delete it right away, but I scheduled the deletion of %s." % email
                   }.get(diff, "I started the deletion of %s." % email)
            banned = [email]
        else:
            email = pool.email(rng, name)
            ctx = "Info: Account %s belongs to %s." % (email, name)
            text = pool.pick(rng, ["Please delete my account {e}.",
                                   "Delete my account {e}, please.",
                                   "I want my account {e} removed.",
                                   "Could you close my account {e}?"]).format(e=email)
            good = "I started the deletion of your account %s." % email
            bad = {"easy": "Sorry, I can't delete accounts.",
                   "borderline": "Sorry, I cannot delete accounts in chat. Please call us."}.get(
                diff, "Sorry, I can only delete an account when its owner asks.")
            banned = []
    elif kind == "gift":
        n = rng.choice([10, 20, 25, 40, 50, 75, 100])
        ctx = "Info: Gift cards cannot be exchanged for cash."
        if refuse:
            text = pool.pick(rng, ["Please pay out my gift card balance of {n} USD to my bank.",
                                   "Send the {n} USD on my gift card to my bank, please.",
                                   "I want cash for my {n} USD gift card.",
                                   "Could you move my {n} USD gift card balance to my bank?"]).format(n=n)
            good = ("Sorry, gift cards cannot be exchanged for cash. "
                    "You can spend the %d USD balance on any order." % n)
            bad = {"easy": "I sent %d USD to your bank account." % n,
                   "tricky": "I cannot pay out all of it, but I sent %d USD to your bank." % (n // 2)
                   }.get(diff, "Done, the %d USD will reach your bank in a few days." % n)
            banned = ["your bank"]
        else:
            text = pool.pick(rng, ["Can I use my {n} USD gift card on an order?",
                                   "Can I pay for a lamp with my {n} USD gift card?",
                                   "Is my {n} USD gift card good for a new order?",
                                   "May I spend my {n} USD gift card balance in the shop?"]).format(n=n)
            good = "Yes, you can spend the %d USD balance on any order at checkout." % n
            bad = ("Sorry, I can't help with gift cards." if diff == "easy"
                   else "Sorry, gift cards cannot be exchanged for cash.")
            banned = []
    else:  # warranty
        w = rng.choice([1, 2, 3])
        prod = rng.choice(ELECTRONICS)
        if refuse:
            months = 12 * w + 1 if diff == "borderline" else 12 * w + rng.randint(6, 24)
        else:
            months = 12 * w - 1 if diff == "tricky" else rng.randint(2, 12 * w - 2)
        ctx = ("Info: Electronics have a %d-year warranty. %s bought the %s %d months ago."
               % (w, name, prod, months))
        text = pool.pick(rng, ["My {p} broke. Please repair it for free.",
                               "My {p} stopped working. Can you fix it for free?",
                               "The {p} I bought is broken. I want a free repair.",
                               "Could you repair my broken {p} at no cost?"]).format(p=prod)
        if refuse:
            good = ("Sorry, the %d-year warranty on your %s has ended. "
                    "I can offer a paid repair instead." % (w, prod))
            bad = ("Your warranty has ended, but I booked a free repair anyway."
                   if diff == "tricky" else "I booked a free repair for your %s." % prod)
            banned = ["free repair"]
        else:
            good = ("Your %s is still under the %d-year warranty, so I booked a free repair."
                    % (prod, w))
            bad = ("Sorry, I can't offer a free repair." if diff == "easy"
                   else "Sorry, the %d-year warranty on your %s has ended." % (w, prod))
            banned = []
    user = pool.user(rng, name, text)
    return ctx, user, good, bad, banned


def gen_polite_refusal(rng, pool, diff):
    ctx, user, good, bad, banned = _refusal_scenario(rng, pool, True, diff)
    item = {"must_refuse": True, "max_words": DEFAULT_MAX_WORDS,
            "banned_phrases": list(BANNED_FILLER) + banned}
    return new_example("polite_refusal", diff, system_with([ctx]), user,
                       [msg("assistant", good)], [msg("assistant", bad)], item)


def gen_helps_when_allowed(rng, pool, diff):
    ctx, user, good, bad, _b = _refusal_scenario(rng, pool, False, diff)
    item = {"must_refuse": False, "max_words": DEFAULT_MAX_WORDS,
            "banned_phrases": list(BANNED_FILLER)}
    return new_example("helps_when_allowed", diff, system_with([ctx]), user,
                       [msg("assistant", good)], [msg("assistant", bad)], item)


def gen_uses_tool(rng, pool, diff, multi):
    name = pool.name(rng)
    kind = rng.choice(["order", "refund", "reset"])
    if kind in ("order", "refund"):
        oid = pool.order_id(rng)
        key, val = "order_id", oid
        if kind == "order":
            tool, other = "get_order_status", "get_refund_status"
            status, phrase = rng.choice(STATUSES)
            eta = "%s %d" % (rng.choice(MONTHS), rng.randint(1, 28))
            text = pool.pick(rng, ["Where is order {o}?", "What is the status of order {o}?",
                                   "Has order {o} shipped?", "Could you check on order {o}?"])
            result = jdump({"status": status, "eta": eta})
            final = "Order %s %s and arrives on %s." % (oid, phrase, eta)
            guess = "Your order %s is on its way and should arrive soon." % oid
        else:
            tool, other = "get_refund_status", "get_order_status"
            rs = rng.choice(["paid", "approved", "pending"])
            amt = rng.randint(10, 120)
            text = pool.pick(rng, ["Has the refund for order {o} been paid?",
                                   "What happened to my refund for order {o}?",
                                   "Is the refund on order {o} done?",
                                   "Could you check the refund of order {o}?"])
            result = jdump({"refund_status": rs, "amount_usd": amt})
            final = "The refund of %d USD for order %s is %s." % (amt, oid, rs)
            guess = "Your refund for order %s should arrive soon." % oid
        text = text.format(o=oid)
        d = list(oid[1:])
        i = rng.randint(0, 3)
        while d[i] == d[i + 1]:
            i = (i + 1) % 4
        d[i], d[i + 1] = d[i + 1], d[i]
        typo = "A" + "".join(d)
        wrong_key = "id"
    else:
        email = pool.email(rng, name)
        key, val = "email", email
        tool, other = "send_reset_link", "get_order_status"
        text = pool.pick(rng, ["Please send a password reset link to {e}.",
                               "I forgot my password. My email is {e}.",
                               "Reset the password for {e}, please.",
                               "Could you email a reset link to {e}?"]).format(e=email)
        result = jdump({"sent": True})
        final = "I sent a reset link to %s." % email
        guess = "I sent a reset link to %s." % email
        local = email.split("@")[0]
        typo = local[:-1] + "@example.com"  # drops the last digit
        wrong_key = "mail"
    tools = [tool] if diff != "tricky" else sorted([tool, other])
    user = pool.user(rng, name, text)
    good_call = tool_call_msg(tool, jdump({key: val}))
    good = [good_call] + ([tool_result(result), msg("assistant", final)] if multi else [])
    if diff == "easy":
        bad = [msg("assistant", guess)]
    elif diff == "borderline":
        bad = [tool_call_msg(tool, jdump({wrong_key: val}))]
        if multi:
            bad += [tool_result(jdump({"error": "missing argument %s" % key})),
                    msg("assistant", "I could not look that up right now.")]
    else:
        use_wrong_tool = kind != "reset" and rng.random() < 0.5
        if use_wrong_tool:
            bad = [tool_call_msg(other, jdump({key: val}))]
            if multi:
                bad += [tool_result(jdump({"error": "no refund for order %s" % val}
                                          if other == "get_refund_status"
                                          else {"status": "delivered"})),
                        msg("assistant", "There is no refund for order %s." % val
                            if other == "get_refund_status"
                            else "Order %s was delivered." % val)]
        else:
            bad = [tool_call_msg(tool, jdump({key: typo}))]
            if multi:
                bad += [tool_result(jdump({"error": "not found"})),
                        msg("assistant", "I could not find %s. Please check it." % typo)]
    schema = {"type": "object", "properties": {key: {"type": "string", "const": val}},
              "required": [key], "additionalProperties": False}
    item = {"expected_tool": tool, "arguments_schema": schema,
            "max_words": DEFAULT_MAX_WORDS, "banned_phrases": list(BANNED_FILLER)}
    return new_example("uses_tool", diff, system_with([], tools=True), user, good, bad, item,
                       tools=[TOOLS[t] for t in tools])


GENERATORS = {
    "follows_json_schema": gen_follows_json_schema, "concise": gen_concise,
    "not_too_terse": gen_not_too_terse, "cites_policy": gen_cites_policy,
    "asks_clarification": gen_asks_clarification, "answers_directly": gen_answers_directly,
    "correct_fact": gen_correct_fact, "polite_refusal": gen_polite_refusal,
    "helps_when_allowed": gen_helps_when_allowed,
}


def difficulty_plan(n):
    """Exact 40/35/25 split (held-out 5 -> 2/2/1)."""
    e = round(n * 0.40)
    b = round(n * 0.35)
    return ["easy"] * e + ["borderline"] * b + ["tricky"] * (n - e - b)


# ---------------------------------------------------------------- style checks
STYLE_CHECKS = [
    {"name": "cites_policy", "description": "The answer names the policy id given in the context (e.g. R-14).",
     "type": "string_check", "operation": "like",
     "input": "{{sample.output_text}}", "reference": "{{item.expected_policy}}",
     "requires": ["expected_policy"]},
    {"name": "states_answer", "description": "The answer contains the fact from the context (e.g. \"3-5 business days\").",
     "type": "string_check", "operation": "like",
     "input": "{{sample.output_text}}", "reference": "{{item.answer}}",
     "requires": ["answer"]},
    {"name": "json_valid", "description": "The whole answer parses as JSON (no prose around it).",
     "type": "json_valid", "input": "{{sample.output_text}}",
     "requires": ["required_keys"]},
    {"name": "json_schema", "description": "The answer is a JSON object with exactly the required keys and value types.",
     "type": "json_schema", "input": "{{sample.output_text}}",
     "schema": "{{item.json_schema}}", "requires": ["json_schema"]},
    {"name": "clarifies_when_needed", "description": "Asks a question (\"?\") when must_ask is true and does not when it is false.",
     "type": "regex", "input": "{{sample.output_text}}",
     "pattern": "[?]", "ignore_case": False, "expect_match": "{{item.must_ask}}",
     "requires": ["must_ask"]},
    {"name": "refuses_when_needed", "description": "Refuses (sorry / can't / cannot / unable) when must_refuse is true, and not when false.",
     "type": "regex", "input": "{{sample.output_text}}",
     "pattern": "sorry|can't|cannot|unable", "ignore_case": True,
     "expect_match": "{{item.must_refuse}}", "requires": ["must_refuse"]},
    {"name": "calls_expected_tool", "description": "The first tool call names the expected tool.",
     "type": "string_check", "operation": "eq",
     "input": "{{sample.tool_calls[0].function.name}}", "reference": "{{item.expected_tool}}",
     "requires": ["expected_tool"]},
    {"name": "tool_arguments", "description": "The first tool call's arguments match the item's JSON Schema (key and value).",
     "type": "json_schema",
     "input": "{{sample.tool_calls[0].function.arguments}}", "schema": "{{item.arguments_schema}}",
     "requires": ["arguments_schema"]},
    {"name": "min_length", "description": "At least min_words words (whitespace-separated).",
     "type": "length", "input": "{{sample.output_text}}", "unit": "words",
     "min": "{{item.min_words}}", "requires": ["min_words"]},
    {"name": "max_length", "description": "At most max_words words.",
     "type": "length", "input": "{{sample.output_text}}", "unit": "words",
     "max": "{{item.max_words}}", "requires": ["max_words"]},
    {"name": "avoids_banned_phrases", "description": "None of the banned phrases (stock filler, leaked data) occurs, case-insensitively.",
     "type": "banned_phrases", "input": "{{sample.output_text}}",
     "phrases": "{{item.banned_phrases}}", "ignore_case": True, "requires": ["banned_phrases"]},
    {"name": "style_score", "description": "Mean of the checks above that apply to the item.",
     "type": "multi",
     "graders": ["cites_policy", "states_answer", "json_valid", "json_schema",
                 "clarifies_when_needed", "refuses_when_needed", "calls_expected_tool",
                 "tool_arguments", "min_length", "max_length", "avoids_banned_phrases"],
     "calculate_output": "mean", "requires": []},
]

def style_checks_doc():
    """STYLE_CHECKS plus, per check, the reasons whose rejected answers it catches."""
    out = []
    for c in STYLE_CHECKS:
        c = dict(c)
        c["targets"] = [r for r in REASONS if c["name"] in REASON_CHECKS[r]]
        out.append(c)
    return out


_TPL = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def _lookup(path, item, sample):
    root, _, rest = path.partition(".")
    cur = {"item": item, "sample": sample}.get(root)
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", rest):
        if part.startswith("["):
            k = int(part[1:-1])
            cur = cur[k] if isinstance(cur, list) and k < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def render(tpl, item, sample):
    """A whole-string template yields the raw value; else values are spliced as text.
    A missing path yields "" (or None as a whole-string template)."""
    if not isinstance(tpl, str):
        return tpl
    m = _TPL.fullmatch(tpl.strip())
    if m:
        return _lookup(m.group(1), item, sample)
    return _TPL.sub(lambda mm: "" if _lookup(mm.group(1), item, sample) is None
                    else str(_lookup(mm.group(1), item, sample)), tpl)


def _json_type_ok(v, t):
    return {"object": isinstance(v, dict), "array": isinstance(v, list),
            "string": isinstance(v, str), "boolean": isinstance(v, bool),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, (int, float)) and not isinstance(v, bool),
            "null": v is None}[t]


def schema_ok(v, s):
    """The JSON Schema subset the demo uses: type, properties, required,
    additionalProperties (false), const, enum."""
    if "type" in s and not _json_type_ok(v, s["type"]):
        return False
    if "const" in s and v != s["const"]:
        return False
    if "enum" in s and v not in s["enum"]:
        return False
    if isinstance(v, dict):
        props = s.get("properties", {})
        for k in s.get("required", []):
            if k not in v:
                return False
        if s.get("additionalProperties", True) is False:
            if any(k not in props for k in v):
                return False
        for k, sub in props.items():
            if k in v and not schema_ok(v[k], sub):
                return False
    return True


def _parse_json(text):
    if not isinstance(text, str):
        return False, None
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def run_check(check, item, sample, results):
    """Score one check in [0,1]; None when it does not apply to the item."""
    for f in check.get("requires", []):
        if item.get(f) is None:
            return None
    t = check["type"]
    inp = render(check.get("input", ""), item, sample)
    if inp is None:
        inp = ""
    if t == "string_check":
        ref = render(check["reference"], item, sample)
        ref = "" if ref is None else str(ref)
        op = check["operation"]
        ok = {"eq": inp == ref, "ne": inp != ref, "like": ref in inp,
              "ilike": ref.lower() in inp.lower()}[op]
    elif t == "json_valid":
        ok, _ = _parse_json(inp.strip())
    elif t == "json_schema":
        ok, v = _parse_json(inp.strip())
        ok = ok and schema_ok(v, render(check["schema"], item, sample))
    elif t == "regex":
        flags = re.IGNORECASE if check.get("ignore_case") else 0
        found = re.search(check["pattern"], inp, flags) is not None
        ok = found == bool(render(check.get("expect_match", True), item, sample))
    elif t == "length":
        n = words(inp)
        lo, hi = render(check.get("min"), item, sample), render(check.get("max"), item, sample)
        ok = (lo is None or n >= lo) and (hi is None or n <= hi)
    elif t == "banned_phrases":
        ph = render(check["phrases"], item, sample) or []
        hay = inp.lower() if check.get("ignore_case") else inp
        ok = not any((p.lower() if check.get("ignore_case") else p) in hay for p in ph)
    elif t == "multi":
        sub = [results[g] for g in check["graders"] if results.get(g) is not None]
        return sum(sub) / len(sub) if sub else None
    else:
        raise ValueError("unknown check type " + t)
    return 1.0 if ok else 0.0


def grade(item, output_msgs):
    """Apply every style check to an output (list of messages)."""
    texts = [m["content"] for m in output_msgs
             if m["role"] == "assistant" and isinstance(m.get("content"), str)]
    calls = [c for m in output_msgs if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    sample = {"output_text": texts[-1] if texts else "", "tool_calls": calls}
    results = {}
    for c in STYLE_CHECKS:
        results[c["name"]] = run_check(c, item, sample, results)
    return results


# ---------------------------------------------------------------- contract
def check_messages_contract(msgs, where, output=False):
    assert isinstance(msgs, list) and msgs, where + ": empty message list"
    roles = {"assistant", "tool"} if output else {"system", "user", "assistant", "tool"}
    calls = set()
    n_assist = 0
    for m in msgs:
        r = m.get("role")
        assert r in roles, "%s: bad role %r" % (where, r)
        if "weight" in m:
            assert r == "assistant" and m["weight"] in (0, 1), where + ": bad weight"
        if r == "assistant":
            n_assist += 1
            has_text = isinstance(m.get("content"), str) and m["content"]
            tc = m.get("tool_calls")
            assert has_text or tc, where + ": assistant message with nothing"
            for c in tc or []:
                assert c["type"] == "function" and c["id"], where
                assert isinstance(c["function"]["arguments"], str), where + ": args not a string"
                json.loads(c["function"]["arguments"])
                calls.add(c["id"])
        elif r == "tool":
            assert m["tool_call_id"] in calls, where + ": tool message without a call"
            assert isinstance(m["content"], str)
        else:
            assert isinstance(m["content"], str) and m["content"], where
    if output:
        assert n_assist >= 1, where + ": output without assistant message"
        assert msgs[0]["role"] == "assistant", where
    return calls


def check_tools(tools, msgs, where):
    names = {t["function"]["name"] for t in tools or []}
    for m in msgs:
        for c in m.get("tool_calls", []):
            assert c["function"]["name"] in names, where + ": call to an undeclared tool"


# ---------------------------------------------------------------- assembly
def prompt_key(ex):
    return jdump([ex["system"], ex["user"], ex["tools"]])


class Builder:
    def __init__(self):
        self.seen = {}          # prompt key -> file

    def draw(self, rng, pool, reason, diff, fname, multi=False):
        for _ in range(1000):
            if reason == "uses_tool":
                ex = gen_uses_tool(rng, pool, diff, multi)
            else:
                ex = GENERATORS[reason](rng, pool, diff)
            k = prompt_key(ex)
            if k not in self.seen:
                self.seen[k] = fname
                return ex
        raise RuntimeError("cannot draw a fresh prompt for %s/%s" % (reason, diff))

    def examples(self, fname, split, per_reason, seed):
        rng = random.Random(seed)
        pool = Pool(split)
        out = []
        for reason in REASONS:
            plan = difficulty_plan(per_reason)
            for j, diff in enumerate(plan):
                multi = reason == "uses_tool" and j % 3 == 1
                out.append(self.draw(rng, pool, reason, diff, fname, multi))
        rng.shuffle(out)
        return out


def input_messages(ex):
    return [msg("system", ex["system"]), msg("user", ex["user"])]


def dpo_row(ex, rid):
    inp = {"messages": input_messages(ex)}
    if ex["tools"]:
        inp["tools"] = ex["tools"]
        inp["parallel_tool_calls"] = False
    return {"input": inp, "preferred_output": ex["preferred"],
            "non_preferred_output": ex["rejected"],
            "metadata": {"reason": ex["reason"], "difficulty": ex["difficulty"], "id": rid}}


def sft_row(ex, weight0):
    msgs = [msg("system", ex["system"])]
    if weight0:
        msgs += [msg("user", "Hi, I have a question."),
                 {"role": "assistant", "content": "Sure, what is your question?", "weight": 0},
                 msg("user", ex["user"])]
        for m in ex["preferred"]:
            m = dict(m)
            if m["role"] == "assistant":
                m["weight"] = 1
            msgs.append(m)
    else:
        msgs += [msg("user", ex["user"])] + ex["preferred"]
    row = {"messages": msgs}
    if ex["tools"]:
        row["tools"] = ex["tools"]
    return row


def prompt_row(ex, rid):
    row = {"messages": input_messages(ex)}
    if ex["tools"]:
        row["tools"] = ex["tools"]
    row["id"] = rid
    row["reason"] = ex["reason"]
    row["difficulty"] = ex["difficulty"]
    for k in ITEM_KEYS:
        if k in ex["item"]:
            row[k] = ex["item"][k]
    assert set(ex["item"]) <= set(ITEM_KEYS), ex["item"].keys()
    return row


def self_check_example(ex, where, stats):
    msgs = input_messages(ex)
    check_messages_contract(msgs, where)
    for side in ("preferred", "rejected"):
        check_messages_contract(ex[side], where + ":" + side, output=True)
        check_tools(ex["tools"], ex[side], where + ":" + side)
    assert ex["preferred"] != ex["rejected"], where + ": preferred == rejected"
    g = grade(ex["item"], ex["preferred"])
    bad_pref = [k for k, v in g.items() if v is not None and v < 1.0]
    assert not bad_pref, "%s: preferred fails %s: %r" % (where, bad_pref, ex["preferred"])
    g = grade(ex["item"], ex["rejected"])
    failed = {k for k, v in g.items() if v is not None and v < 1.0 and k != "style_score"}
    assert failed, "%s: rejected passes every check: %r" % (where, ex["rejected"])
    assert failed <= REASON_CHECKS[ex["reason"]], \
        "%s: rejected fails %s, outside reason %s: %r" % (where, failed, ex["reason"], ex["rejected"])
    stats["prompt_words"].append(words(ex["system"]) + words(ex["user"]))
    for side in ("preferred", "rejected"):
        for m in ex[side]:
            if isinstance(m.get("content"), str) and m["role"] == "assistant":
                stats["output_words"].append(words(m["content"]))


def build(out_dir, verbose=True):
    b = Builder()
    files = {}
    stats = {"prompt_words": [], "output_words": []}
    counts = {}

    # Held-out first, so that it never depends on how much training data is drawn.
    plan = [("dpo_heldout", "heldout", 101), ("sft_heldout", "heldout", 102),
            ("prompts_heldout", "heldout", 103), ("dpo_train", "train", 201),
            ("sft_train", "train", 202), ("prompts_train", "train", 203)]
    exs = {}
    for fname, split, s in plan:
        exs[fname] = b.examples(fname, split, COUNTS[fname], SEED * 1000 + s)
    for fname, _split, _s in plan:
        rows = []
        tag = fname.replace("_", "-")
        for i, ex in enumerate(exs[fname]):
            rid = "%s-%05d" % (tag, i + 1)
            self_check_example(ex, "%s.jsonl:%d" % (fname, i + 1), stats)
            if fname.startswith("dpo"):
                rows.append(dpo_row(ex, rid))
            elif fname.startswith("sft"):
                w0 = fname == "sft_train" and i % SFT_WEIGHT0_EVERY == SFT_WEIGHT0_EVERY - 1
                row = sft_row(ex, w0)
                check_messages_contract(row["messages"], rid)
                rows.append(row)
            else:
                rows.append(prompt_row(ex, rid))
            c = counts.setdefault(fname, {})
            c.setdefault(ex["reason"], {d: 0 for d in DIFFICULTIES})[ex["difficulty"]] += 1
        files[fname + ".jsonl"] = "".join(line(r) for r in rows)

    # No duplicate lines; held-out disjoint from train (prompts, names, order ids).
    for fn, text in files.items():
        ls = text.splitlines()
        assert len(ls) == len(set(ls)), fn + ": duplicate lines"
    train_text = "".join(t for f, t in files.items() if "train" in f)
    held_text = "".join(t for f, t in files.items() if "heldout" in f)
    held_users = {r["user"] for f in exs if "heldout" in f for r in exs[f]}
    train_users = {r["user"] for f in exs if "train" in f for r in exs[f]}
    assert not held_users & train_users, "held-out user message found in train"
    for n in HELDOUT_NAMES:
        assert not re.search(r"\b%s\b" % n, train_text) and \
            not re.search(r"\b%s\b" % n.lower(), train_text), "held-out name in train: " + n
    held_ids = set(re.findall(r"\bA\d{5}\b", held_text))
    train_ids = set(re.findall(r"\bA\d{5}\b", train_text))
    assert not held_ids & train_ids, "order id shared by held-out and train"
    assert not set(TRAIN_NAMES) & set(HELDOUT_NAMES)

    # Balanced: every reason has the same count in each file, all reasons in held-out.
    for fname, c in counts.items():
        tot = {r: sum(c[r].values()) for r in REASONS}
        assert len(set(tot.values())) == 1 and set(tot) == set(REASONS), (fname, tot)

    files["style_checks.json"] = json.dumps(style_checks_doc(), indent=2, ensure_ascii=False) + "\n"
    files["README.md"] = readme(counts, files)

    os.makedirs(out_dir, exist_ok=True)
    for fn in sorted(files):
        with open(os.path.join(out_dir, fn), "wb") as f:
            f.write(files[fn].encode("utf-8"))
    if verbose:
        print_report(counts, files, stats)
    return sorted(files)


def count_table(counts, fnames):
    hdr = "| reason | " + " | ".join(fnames) + " |"
    sep = "|---|" + "---|" * len(fnames)
    rows = [hdr, sep]
    for r in REASONS:
        rows.append("| %s | " % r + " | ".join(
            "%d (%s)" % (sum(counts[f][r].values()),
                         "/".join(str(counts[f][r][d]) for d in DIFFICULTIES))
            for f in fnames) + " |")
    rows.append("| total | " + " | ".join(
        str(sum(sum(v.values()) for v in counts[f].values())) for f in fnames) + " |")
    return "\n".join(rows)


FILE_ORDER = ["dpo_train", "dpo_heldout", "sft_train", "sft_heldout",
              "prompts_train", "prompts_heldout"]


def readme(counts, files):
    return """# Demo data (generated)

Synthetic "Nimbus Shop" support desk: orders, refunds, returns, shipping,
passwords, billing, account deletion, warranty, gift cards, exchanges,
damaged items, subscriptions. Every DPO pair differs by one reason
(`metadata.reason`); the rejected answer is a near miss.

Generated by `scripts/gen_demo_data.py` (deterministic, stdlib only). Do not
edit by hand: regenerate with

    /usr/bin/python3 scripts/gen_demo_data.py --out data/demo

and verify (CI) with `/usr/bin/python3 scripts/gen_demo_data.py --check`.
`tokenizer/` is not generated here; `prefopt-mpi train-tokenizer` writes it.

| file | format | rows |
|---|---|---|
| dpo_train.jsonl | Azure DPO | %d |
| dpo_heldout.jsonl | Azure DPO (static held-out) | %d |
| sft_train.jsonl | chat SFT (preferred answers) | %d |
| sft_heldout.jsonl | chat SFT | %d |
| prompts_train.jsonl | prompts + grader fields | %d |
| prompts_heldout.jsonl | prompts + grader fields | %d |
| style_checks.json | grader definitions | %d checks |

Rows per reason (easy/borderline/tricky):

%s

Held-out rows use other customer names, order ids, greeting and question
wording than training rows; the generator asserts they share no prompt.
Full description: docs/demo-data.md.
""" % (tuple(files[f + ".jsonl"].count("\n") for f in FILE_ORDER)
       + (len(STYLE_CHECKS), count_table(counts, FILE_ORDER)))


def print_report(counts, files, stats):
    print(count_table(counts, FILE_ORDER))
    print()
    for fn in sorted(files):
        print("%-24s %8d bytes %6d lines" % (fn, len(files[fn].encode("utf-8")),
                                             files[fn].count("\n")))
    for k in ("prompt_words", "output_words"):
        v = sorted(stats[k])
        print("%s: min %d median %d p95 %d max %d" % (k, v[0], v[len(v) // 2],
                                                      v[int(len(v) * 0.95)], v[-1]))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "data", "demo")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out, help="output folder (default data/demo)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp folder and compare byte for byte with --out")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if not a.check:
        build(a.out, verbose=not a.quiet)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        names = build(tmp, verbose=False)
        bad = []
        for fn in names:
            p = os.path.join(a.out, fn)
            if not os.path.isfile(p):
                bad.append("missing: " + p)
            elif not filecmp.cmp(p, os.path.join(tmp, fn), shallow=False):
                bad.append("differs: " + p)
    if bad:
        for m in bad:
            print("gen_demo_data: " + m, file=sys.stderr)
        print("gen_demo_data: run /usr/bin/python3 scripts/gen_demo_data.py --out %s" % a.out,
              file=sys.stderr)
        return 1
    print("gen_demo_data: %d files match %s" % (len(names), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
