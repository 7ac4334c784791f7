# This project has no custom actions.
