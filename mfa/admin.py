from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice

# django-otp's own admin would let staff edit or delete factors past the audit trail and mail
# notices. Factors change only through mfa.services: people on their own pages, owners through
# the reset action on people.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
