from django.urls import path

from governance.reviews.views import campaigns, items

urlpatterns = [
    path("reviews/", items.my_reviews, name="reviews"),
    path("reviews/bulk-certify/", items.bulk_certify, name="reviews-bulk-certify"),
    path("reviews/items/<int:pk>/", items.item_detail, name="reviews-item"),
    path("reviews/items/<int:pk>/decide/", items.decide, name="reviews-item-decide"),
    path("reviews/items/<int:pk>/sign-off/", items.sign_off, name="reviews-item-sign-off"),
    path(
        "reviews/items/<int:pk>/confirm-remediation/",
        items.confirm_remediation,
        name="reviews-item-confirm-remediation",
    ),
    path("reviews/items/<int:pk>/reassign/", campaigns.item_reassign, name="reviews-item-reassign"),
    path("reviews/campaigns/", campaigns.campaign_list, name="reviews-campaigns"),
    path("reviews/campaigns/new/", campaigns.campaign_new, name="reviews-campaign-new"),
    path("reviews/campaigns/<int:pk>/", campaigns.campaign_detail, name="reviews-campaign"),
    path("reviews/campaigns/<int:pk>/remind/", campaigns.campaign_remind, name="reviews-campaign-remind"),
    path("reviews/campaigns/<int:pk>/close/", campaigns.campaign_close, name="reviews-campaign-close"),
    path("reviews/campaigns/<int:pk>/report/", campaigns.campaign_report, name="reviews-campaign-report"),
    path(
        "reviews/campaigns/<int:pk>/report.csv",
        campaigns.campaign_report_csv,
        name="reviews-campaign-report-csv",
    ),
]
