"""Agent labelling runs and the adjudication queue (included by ``urls.py``, app "annotation")."""

from django.urls import path

from . import views_agents as v

urlpatterns = [
    path("<int:pk>/agents/new/", v.agent_run_create, name="agent_run_create"),
    path("<int:pk>/agents/<int:run_pk>/", v.agent_run_detail, name="agent_run_detail"),
    path("<int:pk>/agents/<int:run_pk>/pause/", v.agent_run_pause, name="agent_run_pause"),
    path("<int:pk>/agents/<int:run_pk>/resume/", v.agent_run_resume, name="agent_run_resume"),
    path("<int:pk>/adjudication/", v.adjudication_queue, name="adjudication_queue"),
    path("<int:pk>/items/<int:item_pk>/escalate/", v.escalate, name="escalate"),
    path("<int:pk>/items/<int:item_pk>/decide/", v.decide_item, name="decide_item"),
]
