"""The customer chat's words in Spanish and English (the chat follows the customer's language)."""

from __future__ import annotations

LANGS = ("es", "en")

STRINGS: dict[str, dict[str, str]] = {
    # the navigation a visitor sees (the staff pages themselves are in English)
    "nav_chat": {"es": "Chat de atención al cliente", "en": "Customer chat"},
    "nav_signin": {"es": "Acceso del personal", "en": "Staff sign-in"},
    "title": {"es": "Asistente de soporte", "en": "Support assistant"},
    # with SUPPORTBOT_COMPANY set: a deployment's customers see whose assistant it is (heading and browser tab)
    "title_company": {"es": "Asistente de soporte de {company}", "en": "{company} support assistant"},
    "caption": {
        "es": "Respuestas de nuestra base de conocimiento, con sus fuentes.",
        "en": "Answers from our knowledge base, with their sources.",
    },
    "placeholder": {"es": "Escribe tu pregunta…", "en": "Type your question…"},
    "language": {"es": "Idioma", "en": "Language"},
    # the selector's placeholder: Streamlit's own ("Choose an option") stays in its input, read by screen readers
    "choose": {"es": "Elige una opción", "en": "Choose an option"},
    "auto": {"es": "Automático", "en": "Automatic"},
    "detected": {"es": "Idioma detectado: {name}", "en": "Detected language: {name}"},
    # a language named in a sentence of the page's language ("Detected language: Español" on an English page)
    "lang_es": {"es": "español", "en": "Spanish"},
    "lang_en": {"es": "inglés", "en": "English"},
    "sources": {"es": "Fuentes ({n})", "en": "Sources ({n})"},
    "open_article": {"es": "Abrir el artículo", "en": "Open the article"},
    "feedback_thanks": {"es": "¡Gracias por tu valoración!", "en": "Thanks for your feedback!"},
    "handoff": {"es": "Hablar con una persona", "en": "Talk to a person"},
    "handoff_done": {
        "es": "Hemos pasado tu conversación a nuestro equipo (caso {id}). Una persona te responderá pronto.",
        "en": "We passed your conversation to our team (case {id}). A person will reply soon.",
    },
    "new_chat": {"es": "Nueva conversación", "en": "New conversation"},
    "service_down": {
        "es": "El servicio de soporte no está disponible en este momento. Inténtalo de nuevo en unos minutos.",
        "en": "The support service is unavailable right now. Please try again in a few minutes.",
    },
    "connection_lost": {
        "es": "Se ha perdido la conexión con el servicio de soporte: reintentando… Tu conversación sigue aquí.",
        "en": "The connection to the support service is lost: retrying… Your conversation stays here.",
    },
    "details": {"es": "Detalles técnicos", "en": "Technical details"},
    "request_failed": {
        "es": "No hemos podido procesar tu mensaje: {reason}",
        "en": "We could not process your message: {reason}",
    },
    "busy": {
        "es": "Ahora mismo estamos atendiendo muchas consultas. Inténtalo de nuevo dentro de {seconds} s.",
        "en": "We are handling a lot of requests right now. Please try again in {seconds} s.",
    },
    "not_sent": {"es": "Este mensaje no se ha enviado.", "en": "This message was not sent."},
    "resend": {"es": "Enviar de nuevo", "en": "Send again"},
    "mode": {"es": "Modo de respuesta", "en": "Answer mode"},
    "waiting": {
        "es": "Tu conversación está en la cola de nuestro equipo: una persona te responderá aquí.",
        "en": "Your conversation is in our team's queue: a person will reply here.",
    },
    "with_agent": {
        "es": "Una persona ({agent}) está atendiendo tu conversación.",
        "en": "A person ({agent}) is handling your conversation.",
    },
    "sent_to_agent": {"es": "Enviado a {agent}.", "en": "Sent to {agent}."},
    "back_to_bot": {
        "es": "Nuestro equipo te ha pasado de nuevo al asistente virtual, que vuelve a atenderte.",
        "en": "Our team has passed you back to the virtual assistant, which is answering you again.",
    },
}


def t(key: str, lang: str, **values: object) -> str:
    """The string ``key`` in ``lang`` (English when ``lang`` is not es/en), formatted with ``values``."""
    text = STRINGS[key].get(lang) or STRINGS[key]["en"]
    return text.format(**values) if values else text
