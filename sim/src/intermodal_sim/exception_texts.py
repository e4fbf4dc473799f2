"""A labelled set of carriers' exception texts, for the classifier's tests and bench.

Each text is what a carrier would put in its exception's reason, in one of several styles:
a parcel carrier's upper-case sentences, an express carrier's short phrases, an LTL
carrier's X12 AT7 codes with a note, an EDIFACT FTX line, a JSON API's snake_case
description, and a European carrier writing in German, French, Spanish or Dutch. Each is
labelled with the case kind an operator would close it as (and the cause behind it), and
roughened like real feeds are: typos, abbreviations, case, reference numbers and dates.

`texts(seed, n)` draws `n` of them; the same seed gives the same texts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# cause -> (kind, phrasings by style)
PHRASES: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "consignee_unavailable": (
        "delivery_failed",
        {
            "parcel": ("THE RECEIVER WAS NOT AVAILABLE FOR DELIVERY. WE'LL MAKE A SECOND"
                       " ATTEMPT THE NEXT BUSINESS DAY", "RECEIVER NOT IN - NOTICE LEFT"),
            "express": ("Customer not available or business closed",
                        "Recipient not at home, delivery attempted",
                        "No one available to sign for the package"),
            "ltl": ("AT7*AH*A1 consignee not available", "A1 - Missed Delivery",
                    "AQ recipient unavailable"),
            "edifact": ("CONSIGNEE NOT PRESENT AT TIME OF DELIVERY",),
            "json": ("recipient_not_home", "delivery_attempted_no_answer"),
            "eu": ("Empfänger nicht angetroffen", "Destinataire absent lors du passage",
                   "Destinatario ausente", "Geadresseerde niet thuis"),
            "plain": ("Package left at depot, customer will collect",
                      "Driver could not gain access to the building",
                      "Gate locked, nobody answered the intercom"),
        },
    ),
    "address": (
        "delivery_failed",
        {
            "parcel": ("THE STREET NUMBER IS INCORRECT. THIS MAY DELAY DELIVERY",
                       "THE ADDRESS HAS BEEN CORRECTED AND DELIVERY RESCHEDULED"),
            "express": ("Incorrect address - unable to deliver", "Insufficient address"),
            "ltl": ("A2 incorrect address", "AT7*AP*A2"),
            "edifact": ("ADDRESS INCOMPLETE CONSIGNEE UNKNOWN AT ADDRESS",),
            "json": ("bad_address", "address_not_found"),
            "eu": ("Adresse unvollständig", "Adresse erronée", "Dirección incorrecta",
                   "Adres onvolledig"),
            "plain": ("Recipient moved, no forwarding information",
                      "Postcode does not match the street"),
        },
    ),
    "refused": (
        "delivery_failed",
        {
            "parcel": ("THE RECEIVER REFUSED THE DELIVERY", "REFUSED BY RECIPIENT - RETURNING"),
            "express": ("Refused by recipient", "Delivery declined by the consignee"),
            "ltl": ("AT7*A7*BS", "BS refused by customer"),
            "edifact": ("CONSIGNEE REFUSED ACCEPTANCE",),
            "json": ("refused_by_consignee",),
            "eu": ("Annahme verweigert", "Refusé par le destinataire",
                   "Rechazado por el destinatario"),
            "plain": ("Customer did not want the goods, sending back",
                      "Consignee says it never ordered this"),
        },
    ),
    "closed": (
        "delivery_failed",
        {
            "parcel": ("THE BUSINESS WAS CLOSED AT THE TIME OF DELIVERY",),
            "express": ("Business closed", "Closed for holiday"),
            "ltl": ("B1 consignee closed", "AN holiday - closed"),
            "edifact": ("PREMISES CLOSED ON ARRIVAL",),
            "json": ("business_closed",),
            "eu": ("Firma geschlossen", "Magasin fermé", "Negocio cerrado"),
            "plain": ("Dock shut when driver arrived after 17:00",),
        },
    ),
    "damage": (
        "carrier_exception",
        {
            "parcel": ("DAMAGE REPORTED. THE PACKAGE WILL BE RETURNED",
                       "PACKAGE DAMAGED, REWRAPPED AT HUB"),
            "express": ("Package damaged in transit", "Shipment damaged - contents broken"),
            "ltl": ("AT7*A9*AK", "BP load shifted, freight damaged"),
            "edifact": ("GOODS DAMAGED DURING HANDLING",),
            "json": ("damaged_in_transit", "package_crushed"),
            "eu": ("Sendung beschädigt", "Colis endommagé", "Paquete dañado",
                   "Zending beschadigd"),
            "plain": ("Pallet arrived wet, cartons collapsed", "Forklift hit two cases"),
        },
    ),
    "lost": (
        "carrier_exception",
        {
            "parcel": ("WE'RE UNABLE TO LOCATE THE PACKAGE. WE'RE TRACING IT",),
            "express": ("Package cannot be located", "Shipment lost"),
            "ltl": ("A5 unable to locate",),
            "edifact": ("CONSIGNMENT NOT FOUND AT TERMINAL",),
            "json": ("package_lost", "not_found_in_network"),
            "eu": ("Sendung verloren", "Colis perdu", "Paquete extraviado"),
            "plain": ("No scan since origin, trace opened",),
        },
    ),
    "equipment": (
        "carrier_exception",
        {
            "parcel": ("A MECHANICAL FAILURE HAS CAUSED A DELAY",),
            "express": ("Vehicle breakdown", "Truck mechanical problem"),
            "ltl": ("AI mechanical breakdown", "D2 driver not available"),
            "edifact": ("VEHICLE BREAKDOWN EN ROUTE",),
            "json": ("vehicle_breakdown",),
            "eu": ("Fahrzeugpanne", "Panne du véhicule", "Avería del vehículo"),
            "plain": ("Reefer unit failed, swapping trailer", "Flat tyre on the A7"),
        },
    ),
    "accident": (
        "carrier_exception",
        {
            "parcel": ("AN ACCIDENT HAS DELAYED THE VEHICLE",),
            "express": ("Vehicle involved in an accident",),
            "ltl": ("AF accident", "BR train derailment"),
            "edifact": ("TRAFFIC ACCIDENT INVOLVING CARRYING VEHICLE",),
            "json": ("vehicle_accident",),
            "eu": ("Verkehrsunfall", "Accident de la route"),
            "plain": ("Collision at the depot yard",),
        },
    ),
    "weather": (
        "carrier_exception",
        {
            "parcel": ("SEVERE WEATHER CONDITIONS HAVE DELAYED DELIVERY",),
            "express": ("Weather delay", "Delay due to snow storm"),
            "ltl": ("AT7*SD*AO", "AO weather or natural disaster related", "BE road conditions"),
            "edifact": ("ADVERSE WEATHER CONDITIONS",),
            "json": ("weather_delay",),
            "eu": ("Unwetter, Verzögerung", "Intempéries", "Mal tiempo"),
            "plain": ("Motorway closed by flooding", "Port closed, typhoon warning"),
        },
    ),
    "missort": (
        "carrier_exception",
        {
            "parcel": ("THE PACKAGE WAS MISSORTED. IT HAS BEEN REROUTED",),
            "express": ("Misrouted package", "Sent to wrong hub"),
            "ltl": ("AA mis-sort",),
            "edifact": ("CONSIGNMENT MISROUTED",),
            "json": ("missorted",),
            "eu": ("Fehlsortierung", "Erreur de tri"),
            "plain": ("Loaded on the Milan trailer by mistake",),
        },
    ),
    "customs_documents": (
        "customs_hold",
        {
            "parcel": ("THE PACKAGE IS BEING HELD FOR CUSTOMS DOCUMENTATION",),
            "express": ("Clearance delay - missing commercial invoice",
                        "Customs documents incomplete"),
            "ltl": ("AS hold due to customs documentation problems", "AT7*SD*AR", "BC"),
            "edifact": ("CUSTOMS HOLD MISSING PACKING LIST",),
            "json": ("customs_docs_missing",),
            "eu": ("Zollpapiere fehlen", "Documents douaniers manquants",
                   "Faltan documentos de aduana"),
            "plain": ("Broker needs the certificate of origin", "Awaiting export declaration"),
        },
    ),
    "customs_duties": (
        "customs_hold",
        {
            "parcel": ("THE PACKAGE IS HELD. DUTIES AND TAXES ARE DUE",),
            "express": ("Import duties unpaid", "Awaiting payment of import tax"),
            "ltl": ("D2 duty payment required",),
            "edifact": ("DUTY AND VAT PAYMENT OUTSTANDING",),
            "json": ("duties_unpaid",),
            "eu": ("Einfuhrabgaben offen", "Droits de douane à payer", "Aranceles pendientes"),
            "plain": ("Importer of record has not paid the entry",),
        },
    ),
    "customs_inspection": (
        "customs_hold",
        {
            "parcel": ("THE PACKAGE IS IN CUSTOMS INSPECTION",),
            "express": ("Held by customs", "Clearance event"),
            "ltl": ("CA customs (import or export)", "BD border clearance", "AT7*PR"),
            "edifact": ("HELD BY CUSTOMS FOR EXAMINATION",),
            "json": ("customs_hold",),
            "eu": ("Zollkontrolle", "Retenu en douane", "Retenido en aduana",
                   "Tegengehouden door douane"),
            "plain": ("Container selected for X-ray at the port",),
        },
    ),
    "payment": (
        "billing_dispute",
        {
            "parcel": ("THE PACKAGE IS HELD FOR PAYMENT",),
            "express": ("COD amount not available", "Credit hold on account"),
            "ltl": ("B4 held for payment", "C2 credit hold", "C8 collect on delivery required"),
            "edifact": ("FREIGHT CHARGES NOT PREPAID",),
            "json": ("payment_required",),
            "eu": ("Zahlung ausstehend", "En attente de paiement", "Pago pendiente"),
            "plain": ("Account over its limit, freight on hold",),
        },
    ),
    "charges": (
        "billing_dispute",
        {
            "parcel": ("ADDITIONAL CHARGES APPLY. THE RECEIVER DISPUTES THEM",),
            "express": ("Rate discrepancy on the invoice", "Accessorial charge disputed"),
            "ltl": ("BN failed to release billing",),
            "edifact": ("INVOICE AMOUNT DIFFERS FROM AGREED RATE",),
            "json": ("billing_discrepancy",),
            "eu": ("Rechnungsbetrag falsch", "Facture contestée"),
            "plain": ("Reweigh added 40 kg, customer contests",),
        },
    ),
    "missed_pickup": (
        "sla_breach",
        {
            "parcel": ("THE PICKUP WAS MISSED. IT WILL BE RESCHEDULED",),
            "express": ("Pickup not made", "Missed pick-up"),
            "ltl": ("AY missed pick-up", "AX insufficient pick-up time"),
            "edifact": ("COLLECTION NOT PERFORMED",),
            "json": ("pickup_missed",),
            "eu": ("Abholung nicht erfolgt", "Enlèvement manqué"),
            "plain": ("Driver ran out of hours before the collection",),
        },
    ),
    "delay": (
        "sla_breach",
        {
            "parcel": ("THE DELIVERY DATE HAS BEEN UPDATED. DELAY IN TRANSIT",),
            "express": ("Shipment delayed", "Will not meet the committed delivery date"),
            "ltl": ("AT7*SD*AW", "BH insufficient time to complete delivery",
                    "AJ other carrier related"),
            "edifact": ("MISSED CONNECTION AT HUB",),
            "json": ("late_linehaul",),
            "eu": ("Verspätung im Hauptlauf", "Retard de livraison", "Entrega retrasada"),
            "plain": ("Linehaul left 6h behind schedule", "Ferry overbooked, next sailing"),
        },
    ),
}  # fmt: skip
STYLES = ("parcel", "express", "ltl", "edifact", "json", "eu", "plain")
CARRIERS = {"parcel": "parcelpro", "express": "swiftparcel", "ltl": "ridgeline",
            "edifact": "eurofret", "json": "shippo", "eu": "eurofret", "plain": "tms"}  # fmt: skip
ABBREVIATIONS = {
    "consignee": "cnee", "delivery": "dlvry", "address": "addr", "customer": "cust",
    "package": "pkg", "shipment": "shpt", "warehouse": "whse", "recipient": "rcpt",
    "business": "bus.", "attempted": "attmptd",
}  # fmt: skip
MILESTONES = {"delivery_failed": "delivery_failed", "customs_hold": "customs_hold"}


@dataclass(frozen=True)
class LabelledText:
    text: str
    kind: str
    cause: str
    style: str
    carrier: str
    milestone: str
    phrase: str
    """The wording it was roughened from: texts of one wording share it."""


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    how = rng.randrange(3)
    if how == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def roughen(rng: random.Random, text: str, noise: float = 0.12) -> str:
    """Typos, abbreviations, case and the references a feed adds around the words."""
    words = []
    for word in text.split():
        lower = word.lower()
        if lower in ABBREVIATIONS and rng.random() < 0.4:
            word = ABBREVIATIONS[lower]
        elif rng.random() < noise:
            word = _typo(rng, word)
        words.append(word)
    out = " ".join(words)
    roll = rng.random()
    if roll < 0.15:
        out = out.upper()
    elif roll < 0.3:
        out = out.lower()
    roll = rng.random()
    if roll < 0.15:
        out = f"{out} REF {rng.randrange(10**9):09d}"
    elif roll < 0.25:
        out = f"{rng.randrange(1, 29):02d}/11 {rng.randrange(24):02d}:{rng.randrange(60):02d} {out}"
    return out


def texts(seed: int, n: int, noise: float = 0.12) -> list[LabelledText]:
    """`n` labelled texts: causes evenly, a style at random among those the cause has."""
    rng = random.Random(seed)
    causes = sorted(PHRASES)
    out = []
    for i in range(n):
        cause = causes[i % len(causes)]
        kind, styles = PHRASES[cause]
        style = rng.choice(sorted(styles))
        phrase = rng.choice(styles[style])
        text = phrase if style == "ltl" and rng.random() < 0.5 else roughen(rng, phrase, noise)
        milestone = MILESTONES.get(kind, "exception")
        out.append(LabelledText(text, kind, cause, style, CARRIERS[style], milestone, phrase))
    rng.shuffle(out)
    return out
