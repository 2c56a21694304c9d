"""The staff directory following the identity provider: SCIM 2.0 provisioning
pushed by Entra ID or Okta (scim/), and the LDAP / Active Directory pull
(ldap/). Both write through the same rules as the staff file import."""
