"""Skills: folders of Rasa-format training data (nlu.yml) and responses (domain.yml).

The folders next to this file are the built-in skills; `assistant.skills.loader` reads them.
"""
