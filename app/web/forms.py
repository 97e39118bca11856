"""The web UI's forms (Flask-WTF adds a CSRF token to each); their fields apply the
API's own rules (app/schemas.py), so the form and the API accept the same input."""

from typing import Any

from flask_wtf import FlaskForm
from pydantic import TypeAdapter, ValidationError
from wtforms import Field, Form, PasswordField, StringField
from wtforms.validators import DataRequired, Optional
from wtforms.validators import ValidationError as FieldError

from app.schemas import DisplayName, LoginName, LoginPassword, Password, Username

USERNAME_HINT = "Use 3 to 32 letters, digits, '_', '.' or '-'."


class ApiRule:
    """A field validator that applies one of the API's string types."""

    def __init__(self, rule: Any, message: str | None = None) -> None:
        self.adapter = TypeAdapter(rule)
        self.message = message

    def __call__(self, form: Form, field: Field) -> None:
        try:
            self.adapter.validate_python(field.data)
        except ValidationError as error:
            detail = error.errors(include_url=False)[0]["msg"]
            raise FieldError(self.message or detail.removeprefix("Value error, ")) from None


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), ApiRule(LoginName)])
    password = PasswordField("Password", validators=[DataRequired(), ApiRule(LoginPassword)])


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), ApiRule(Username, USERNAME_HINT)])
    display_name = StringField("Display name (optional)", validators=[Optional(), ApiRule(DisplayName)])
    password = PasswordField("Password", validators=[DataRequired(), ApiRule(Password)])


class LogoutForm(FlaskForm):
    """A bare form: only its CSRF token."""
